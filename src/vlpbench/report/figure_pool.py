"""The leaderboard's figures drawn in worker processes while its tables are built.

Drawing the critical-difference, win-rate and PCA figures (PNG + SVG each, mostly text layout in
matplotlib) is most of a leaderboard build; each figure is independent of the others and of the
tables, and its file names are known before it is drawn (`<stem>.png`, `<stem>.svg`). So
`FigurePool.draw` queues a figure and returns its paths at once; `wait` (at the end of the build,
before anything reads the files) collects them and raises the first error. The workers are forked
from the build's process (nothing to import again) and draw with the same code, so the files are
byte-identical to drawing them inline; with one CPU, or where fork is unavailable, figures are
drawn inline.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Callable

from vlpbench.report.stat_figures import SUFFIXES, pyplot

WORKERS = 2


class FigurePool:
    """Queue figure drawings (`draw(function, *args, stem)`); `wait` for them all."""

    def __init__(self) -> None:
        parallel = (os.cpu_count() or 1) >= 2 and "fork" in multiprocessing.get_all_start_methods()
        if parallel:
            pyplot()  # imported once here, inherited by the forked workers
        self._executor = ProcessPoolExecutor(WORKERS, mp_context=multiprocessing.get_context("fork")) if parallel else None
        self._pending: list[Future] = []

    def draw(self, function: Callable[..., list[Path]], *args) -> list[Path]:
        """`function(*args)` whose last argument is the figure's stem; returns the paths it writes."""
        stem = Path(args[-1])
        if self._executor is None:
            return function(*args)
        self._pending.append(self._executor.submit(function, *args))
        return [stem.with_name(stem.name + suffix) for suffix in SUFFIXES]

    def wait(self) -> None:
        """Block until every queued figure is written; the first failure is raised."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def __enter__(self) -> FigurePool:
        return self

    def __exit__(self, *exc_info) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=exc_info[0] is not None)
