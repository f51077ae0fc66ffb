"""The numpy generators of data recipes (the data seeds of `core.seeding`): what the corpus, the
evaluation sets, split files and the renderer contain. Numpy only, so the report layer can draw
its resamples the same way without importing torch."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def data_rng(entropy: int | Sequence[int]) -> np.random.Generator:
    """The numpy generator of a data recipe (corpus, evaluation set, split file, renderer stream)."""
    return np.random.default_rng(list(entropy) if isinstance(entropy, Sequence) else entropy)
