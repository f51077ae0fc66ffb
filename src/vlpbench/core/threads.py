"""One thread count for every compute pool in the process: torch's intra-op pool and the BLAS /
OpenMP pools numpy, scipy and scikit-learn load (threadpoolctl). Limiting torch alone leaves
OpenBLAS workers spinning beside it, which on a 2-core machine shared by two processes made
pretraining 3-4× slower."""

from __future__ import annotations

import torch
from threadpoolctl import threadpool_limits


def limit_threads(threads: int) -> None:
    """Use at most `threads` threads for torch and for every loaded BLAS/OpenMP library."""

    torch.set_num_threads(threads)
    threadpool_limits(limits=threads)
