"""`threads`: one limit for torch and for every BLAS/OpenMP pool numpy, scipy and sklearn load."""

from __future__ import annotations

import torch
from threadpoolctl import threadpool_info, threadpool_limits

from vlpbench.core.threads import limit_threads


def test_limit_threads_reaches_torch_and_every_blas_pool():
    import numpy  # noqa: F401  (loads OpenBLAS)
    import sklearn.linear_model  # noqa: F401  (loads its OpenMP runtime)

    before = torch.get_num_threads()
    with threadpool_limits(limits=None):  # restore every pool afterwards
        threadpool_limits(limits=2)  # pytest's conftest starts every pool at 1
        torch.set_num_threads(2)
        assert all(pool["num_threads"] == 2 for pool in threadpool_info())
        limit_threads(1)
        assert torch.get_num_threads() == 1
        pools = threadpool_info()
        assert pools and all(pool["num_threads"] == 1 for pool in pools)
    torch.set_num_threads(before)
