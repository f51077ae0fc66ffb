"""Planted reference strategies: `clip` with q % of its image–report pairs mismatched (q = 10, 25,
50). The rest of the recipe is clip's. More mismatched pairs give the encoder less to learn from,
so the order clip > clip-mismatch-10 > clip-mismatch-25 > clip-mismatch-50 is known by
construction: the truth a benchmark must recover. Rows tagged "planted" are shown in their own
block of every table and left out of the real strategies' ranks; the tag "planted:<reference>:<q>"
places a rung on its ladder below `reference` (the larger q, the worse)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from vlpbench.core.registry import PluginInfo, register_strategy
from vlpbench.core.seeding import seed_generator
from vlpbench.strategies.clip import Clip

LADDER = (10, 25, 50)


def mismatched_pairing(train_indices: np.ndarray, corpus_size: int, percent: int, seed: int) -> np.ndarray:
    """Identity pairing over the corpus except `percent` % of the training pairs, chosen by
    (run seed, percent), whose reports are rotated one step along a random order of the chosen
    pairs: every chosen image gets another chosen image's report, none keeps its own."""
    pairing = np.arange(corpus_size)
    rng, _ = seed_generator(seed, f"clip-mismatch/{percent}")
    count = int(round(len(train_indices) * percent / 100))
    if count < 2:
        return pairing
    chosen = rng.permutation(np.asarray(train_indices))[:count]
    pairing[chosen] = np.roll(chosen, 1)
    return pairing


class ClipMismatch(Clip):
    """CLIP on a corpus whose pairs are mismatched at `percent` %, fixed per pretraining run."""

    percent: ClassVar[int] = 0

    def report_pairing(self, train_indices: np.ndarray, seed: int) -> np.ndarray:
        return mismatched_pairing(train_indices, int(np.max(train_indices)) + 1, self.percent, seed)


for _order, _percent in enumerate(LADDER):
    register_strategy(
        f"clip-mismatch-{_percent}",
        description=f"planted reference: clip with {_percent} % of its image–report pairs mismatched (a fixed derangement per run)",
        info=PluginInfo(title=f"CLIP, {_percent} % pairs mismatched", order=900 + _order, reference="planted ladder",
                        tags=("planted", f"planted:clip:{_percent}")),
    )(type(f"ClipMismatch{_percent}", (ClipMismatch,), {"percent": _percent, "__doc__": f"clip with {_percent} % mismatched pairs."}))
