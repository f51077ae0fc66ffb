"""torchrun support: rank helpers and an all-gather that keeps gradients (contrastive losses
need every rank's features as negatives; only the local slice gets the gradient back)."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
from torch.distributed.nn.functional import all_gather


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    return rank() == 0


def init_from_env() -> bool:
    """Initialise the process group when launched by torchrun (gloo on CPU, nccl on CUDA)."""
    if "RANK" not in os.environ or is_distributed():
        return is_distributed()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend=backend)
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    return True


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate `tensor` from every rank along dim 0 (rank order); identity when not distributed.

    torch's differentiable all-gather sends each rank the gradient of its own slice, summed over
    the ranks (every rank computes the loss on the whole gathered batch)."""
    if not is_distributed() or world_size() == 1:
        return tensor
    return torch.cat(all_gather(tensor), dim=0)


@torch.no_grad()
def gather_no_grad(tensor: torch.Tensor) -> torch.Tensor:
    """All-gather without gradients (momentum keys and labels before they enter the queue)."""
    if not is_distributed() or world_size() == 1:
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, dim=0)
