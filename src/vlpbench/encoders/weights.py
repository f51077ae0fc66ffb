"""Reading local weights safely: safetensors, or `.pth`/`.bin` with `weights_only=True`.

Nothing here unpickles arbitrary objects; a checkpoint that needs full unpickling is refused.
The one class allowed besides tensors and containers is `argparse.Namespace` (a bag of
attributes, no code): MAE-style releases such as RETFound store their training `args` in it, and
RETFound's own loader allows exactly that class.
"""

from __future__ import annotations

import argparse
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
    state = read_checkpoint(path)
    for key in ("state_dict", "model", "module"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise VlpbenchError(f"weights file {path}: expected a mapping of parameter names to tensors")
    return state


def read_checkpoint(path: str | Path) -> object:
    """The whole object of a `.pth`/`.pt`/`.bin` file, loaded with `weights_only=True` (plus
    `argparse.Namespace`); a file needing full unpickling is refused with the reason and a
    one-line conversion command."""
    path = Path(path)
    if not path.is_file():
        raise VlpbenchError(f"weights file {path} does not exist (expected a .safetensors/.pth/.bin file)")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        reason = next((line for line in lines if "Unsupported global" in line), lines[-1] if lines else type(error).__name__)
        raise VlpbenchError(
            f"weights file {path} refused: it is not loadable with weights_only=True (pickled objects are never "
            f"unpickled) — {reason}; if you trust the file, convert it once with: {conversion_command(path)}"
        ) from None


def conversion_command(path: Path) -> str:
    """A one-line shell command turning a trusted pickle checkpoint into safetensors (the state
    dict under 'model', 'teacher' or 'state_dict' when the file wraps one, with its key names)."""
    out = path.with_suffix(".safetensors")
    return ("python -c \"import torch, safetensors.torch as st; "
            f"c = torch.load('{path}', map_location='cpu', weights_only=False); "
            "s = next((c[k] for k in ('model', 'teacher', 'state_dict') if isinstance(c, dict) and k in c), c); "
            f"st.save_file({{k: v.contiguous() for k, v in s.items()}}, '{out}')\"")


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
        first = (f"missing '{missing[0]}' (expected shape {tuple(own[missing[0]].shape)})" if missing
                 else f"unexpected '{unexpected[0]}' (shape {tuple(state[unexpected[0]].shape)})")
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
