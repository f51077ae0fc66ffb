"""The one compatibility shim between MMSegmentation 1.2.x and mmcv-lite (INSTALL-NOTES "mmsegmentation").

mmseg 1.2.x needs mmcv 2.1.x, whose compiled ops (`mmcv._ext`) have no wheel for our torch
builds; mmcv-lite installs in seconds but `import mmseg.models` then fails, because mmseg imports
a few names from `mmcv.ops` unguarded. When — and only when — the compiled ops are absent,
`ensure_mmseg` installs a stand-in `mmcv.ops` module that offers:

- `point_sample` (and the rest of mmcv/ops/point_sample.py), mmcv's own pure-PyTorch code, loaded
  from that file without running mmcv/ops/__init__.py (which imports the compiled extension);
- `sigmoid_focal_loss`, imported unguarded by mmseg/models/losses/focal_loss.py but only called
  on CUDA tensors: a stub that raises ModuleNotFoundError when called;
- every other name (PSAMask, CrissCrossAttention, DeformConv2d, SyncBatchNorm, ...) raises
  ModuleNotFoundError on access — mmseg and mmengine already catch that for their optional parts.

With full mmcv installed this module does nothing.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

STANDIN_NAME = "mmcv.ops"
_CALL_TIME_STUBS = ("sigmoid_focal_loss",)


def compiled_ops_available() -> bool:
    """True when mmcv's compiled extension exists (full mmcv, not mmcv-lite)."""
    return importlib.util.find_spec("mmcv._ext") is not None


def ensure_mmseg() -> None:
    """Make `import mmseg.models` work; idempotent. Call before importing anything from mmseg."""
    if STANDIN_NAME in sys.modules or compiled_ops_available():
        return
    import mmcv  # noqa: PLC0415 — mmcv is heavy and needs the compat module installed first

    ops = types.ModuleType(STANDIN_NAME, __doc__)
    ops.__path__ = []  # a package without submodules on disk: `mmcv.ops.x` imports fail cleanly
    point_sample = _load_point_sample(Path(mmcv.__file__).parent / "ops" / "point_sample.py")
    for name in ("point_sample", "bilinear_grid_sample", "SimpleRoIAlign", "rel_roi_point_to_rel_img_point"):
        setattr(ops, name, getattr(point_sample, name))
    for name in _CALL_TIME_STUBS:
        setattr(ops, name, _missing_op(name))
    ops.__getattr__ = _missing_attribute  # type: ignore[attr-defined]
    sys.modules[point_sample.__name__] = point_sample
    sys.modules[STANDIN_NAME] = ops
    mmcv.ops = ops  # type: ignore[attr-defined]


def _load_point_sample(path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(f"{STANDIN_NAME}.point_sample", path)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"mmcv installation lacks {path}", name="mmcv.ops.point_sample")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _missing_message(name: str) -> str:
    return f"mmcv.ops.{name} needs mmcv's compiled ops (mmcv._ext); only mmcv-lite is installed"


def _missing_attribute(name: str):
    if name.startswith("__"):  # keep hasattr()/inspect probes of dunders working
        raise AttributeError(name)
    raise ModuleNotFoundError(_missing_message(name), name="mmcv._ext")


def _missing_op(name: str):
    def op(*args, **kwargs):
        raise ModuleNotFoundError(_missing_message(name), name="mmcv._ext")

    op.__name__ = name
    return op
