"""Rich progress bars (disabled on non-zero ranks and when asked); their text is shown with markup
off, so a name or status is printed as written (see core/console.py)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

_ENABLED = {"bars": True}


def set_progress_enabled(enabled: bool) -> None:
    """Switch every bar of this process on or off (grid worker processes run silent)."""
    _ENABLED["bars"] = enabled


@contextmanager
def progress_bar(description: str, total: int, enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """Yield `advance(status)`, which moves the bar one step and shows `status`."""
    if not (enabled and _ENABLED["bars"]):
        yield lambda status="": None
        return
    columns = (
        TextColumn("{task.description}", style="bold", markup=False), BarColumn(), MofNCompleteColumn(),
        TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[status]}", markup=False),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task(description, total=total, status="")
        yield lambda status="": progress.update(task, advance=1, status=status)
