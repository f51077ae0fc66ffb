"""Reading local weights safely: safetensors, or `.pth`/`.bin` with `weights_only=True`.

Nothing here unpickles arbitrary objects; a checkpoint that needs full unpickling is refused.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from vlpbench.core.errors import VlpbenchError


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a local checkpoint file (safetensors preferred)."""
    path = Path(path)
    if not path.is_file():
        raise VlpbenchError(f"weights file {path} does not exist (expected a .safetensors/.pth/.bin file)")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except Exception as error:  # safetensors raises several error types for corrupt files
            raise VlpbenchError(f"weights file {path} is not a valid safetensors file: {error}") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        reason = next((line for line in lines if "Unsupported global" in line), lines[-1] if lines else type(error).__name__)
        raise VlpbenchError(
            f"weights file {path} refused: it is not loadable with weights_only=True (pickled "
            f"objects are never unpickled; convert it to safetensors) — {reason}"
        ) from None
    for key in ("state_dict", "model", "module"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise VlpbenchError(f"weights file {path}: expected a mapping of parameter names to tensors")
    return state


def load_checked(module: nn.Module, state: dict[str, torch.Tensor], source: str, strict: bool = True) -> None:
    """Load `state` into `module`; the first mismatching key is named with both shapes."""
    own = module.state_dict()
    for key, tensor in state.items():
        if key in own and own[key].shape != tensor.shape:
            raise VlpbenchError(
                f"{source}: tensor '{key}' has shape {tuple(tensor.shape)} but the encoder "
                f"expects {tuple(own[key].shape)}"
            )
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if strict and (missing or unexpected):
        first = f"missing '{missing[0]}'" if missing else f"unexpected '{unexpected[0]}'"
        raise VlpbenchError(
            f"{source}: does not fit the encoder ({len(missing)} missing, {len(unexpected)} "
            f"unexpected keys; first {first})"
        )
    module.load_state_dict(state, strict=strict)
