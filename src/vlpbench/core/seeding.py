"""Every random generator of vlpbench is derived here, from (seed, purpose), or, for data
recipes, in `core.data_seeding` (numpy only); nothing else seeds.

Two families of seeds:
- **data seeds** (`corpus.seed`, a dataset's recipe seed) fix what the corpus and the evaluation
  sets contain; they do not depend on the run's seed k;
- **run seed k** fixes a pretraining run (`pretrain.seed`: initial weights, data order,
  augmentation stream) and a downstream evaluation (split, subset, head initialisation, data
  order, augmentation), identically for every strategy — what makes a paired test valid.

Libraries that draw from torch's global RNG (timm/mmseg initialisers, dropout, MAE masking) run
inside `seeded(...)`, which forks the global state so the caller's stream is left untouched.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


def seed_generator(seed: int, purpose: str) -> tuple[np.random.Generator, torch.Generator]:
    """A numpy and a CPU torch generator, both fixed by (seed, purpose) only."""
    digest = hashlib.sha256(f"vlpbench/{int(seed)}/{purpose}".encode()).digest()
    sequence = np.random.SeedSequence(int.from_bytes(digest[:16], "little"))
    numpy_sequence, torch_sequence = sequence.spawn(2)
    torch_seed = int(torch_sequence.generate_state(1, np.uint64)[0] >> np.uint64(1))
    return np.random.default_rng(numpy_sequence), torch.Generator().manual_seed(torch_seed)


def torch_generator(seed: int) -> torch.Generator:
    """A CPU torch generator with a fixed integer seed (MLM masking, the augmentation stream)."""
    return torch.Generator().manual_seed(int(seed))


def augmentation_seed(seed: int, rank: int) -> int:
    """Pretraining augmentation stream of run seed k on data-parallel rank r."""
    return seed * 1000 + rank


def strategy_init_seed(name: str, seed: int) -> int:
    """Initial weights of strategy `name` in run seed k: differ between strategies and seeds,
    and do not depend on what was built before (cached teacher or not)."""
    return zlib.crc32(name.encode()) + seed


def derived_seed(generator: torch.Generator) -> int:
    """An integer seed drawn from a purpose generator (to seed a library's global-RNG draws)."""
    return int(torch.randint(2**62, (1,), generator=generator))


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run the block with torch's global CPU RNG seeded to `seed`, restoring the outer state after."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def copy_generator(generator: torch.Generator) -> torch.Generator:
    """An independent CPU generator in the same state (to peek at draws without consuming them)."""
    return torch.Generator().set_state(generator.get_state())
