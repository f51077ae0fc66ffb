"""Atomic file writes: a temp file in the same folder, fsync, then `os.replace`."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(temp_path)` then rename onto `path`; an interruption leaves no partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    temp_path = Path(temp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp_path, 0o666 & ~umask)  # mkstemp creates 0600; results are meant to be shared
    try:
        write(temp_path)
        with open(temp_path, "rb") as stream:
            os.fsync(stream.fileno())
        os.replace(temp_path, path)
    finally:
        temp_path.unlink(missing_ok=True)


def atomic_write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False, default=str)
    atomic_write(path, lambda temp: temp.write_text(text + "\n", encoding="utf-8"))
