"""Generated synthetic sets cached as .npz + .json under the run folder, keyed by their recipe."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

from vlpbench._version import __version__
from vlpbench.core.atomic import atomic_write, atomic_write_json


def cached_generation(
    cache_dir: Path | None, name: str, recipe: dict[str, Any], build: Callable[[], tuple[dict[str, np.ndarray], dict[str, Any]]]
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays + JSON metadata for `recipe`, built once and then read back from `cache_dir`."""
    if cache_dir is None:
        return build()
    key = hashlib.sha256(json.dumps({"recipe": recipe, "version": __version__}, sort_keys=True).encode()).hexdigest()[:12]
    arrays_path = cache_dir / f"{name}-{key}.npz"
    meta_path = cache_dir / f"{name}-{key}.json"
    if arrays_path.exists() and meta_path.exists():
        with np.load(arrays_path, allow_pickle=False) as stored:
            return {k: stored[k] for k in stored.files}, json.loads(meta_path.read_text(encoding="utf-8"))
    arrays, meta = build()
    atomic_write(arrays_path, lambda temp: _save_npz(temp, arrays))
    atomic_write_json(meta_path, meta)
    return arrays, meta


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    with path.open("wb") as stream:
        np.savez(stream, **arrays)
