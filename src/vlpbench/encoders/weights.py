"""Reading local weights safely: safetensors, or `.pth`/`.bin` with `weights_only=True`.

Nothing here unpickles arbitrary objects; a checkpoint that needs full unpickling is refused.
"""

from __future__ import annotations

import os
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


#: with strict=False, a file that sets less than this fraction of the module's parameters is refused
MIN_LOADED_FRACTION = 0.5
#: environment variable that accepts weights setting less than MIN_LOADED_FRACTION (`=1`)
ALLOW_PARTIAL = "VLPBENCH_ALLOW_PARTIAL_WEIGHTS"


def partial_weights_allowed() -> bool:
    return os.environ.get(ALLOW_PARTIAL, "").strip().lower() in ("1", "true", "yes")


def load_checked(module: nn.Module, state: dict[str, torch.Tensor], source: str, strict: bool = True) -> float:
    """Load `state` into `module`; the first mismatching key is named with both shapes. Returns
    the fraction of the module's parameters (by element count) the file set. With strict=False,
    a file setting less than MIN_LOADED_FRACTION (weights for another architecture, or with a key
    prefix that matches nothing) is refused unless VLPBENCH_ALLOW_PARTIAL_WEIGHTS=1."""
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
    total = sum(tensor.numel() for tensor in own.values())
    matched = [key for key in own if key in state]
    fraction = sum(own[key].numel() for key in matched) / total if total else 1.0
    if not strict and fraction < MIN_LOADED_FRACTION and not partial_weights_allowed():
        raise VlpbenchError(
            f"{source}: sets only {fraction:.1%} of the encoder's parameters ({len(matched)} of {len(own)} tensors "
            f"match by name); expected at least {MIN_LOADED_FRACTION:.0%} — check the file is for this architecture, "
            f"or set {ALLOW_PARTIAL}=1 to use it anyway"
        )
    module.load_state_dict(state, strict=strict)
    return fraction
