"""Atomic writes and the temp files they leave when a process is killed.

A file is written to a temp file in the same folder, fsynced, then `os.replace`d onto its name; a
folder (a checkpoint) is written whole into a temp folder next to it, then `os.rename`d into place
(`publish_folder`), so a reader sees either nothing or the complete thing.

Temp names are `.<name>.tmp-<host>-<pid>-<random>` (host: 8 hex digits of the host name's SHA-256):
what a killed writer leaves is recognised by `writer_gone` — its process is not alive on this
host, or the temp file is older than `STALE_AGE_S` — and removed by `sweep_stale` on a later run.
A temp *folder* is removed only by the holder of its target's lock (`core/claims.py`), since its
writer holds that lock for as long as it lives (however long a pretraining takes).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import time
from pathlib import Path
from typing import Any, Callable

#: a temp file older than this is stale whoever wrote it (a single file write takes seconds)
STALE_AGE_S = 6 * 3600
HOST_TAG = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_TEMP = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-[0-9a-f]+$")


def temp_name(name: str) -> str:
    """A temp name for `name`, unique to this process, recognisable by `temp_target`."""
    return f".{name}.tmp-{HOST_TAG}-{os.getpid()}-{secrets.token_hex(4)}"


def temp_target(path: Path) -> str | None:
    """The name a temp file or folder `path` was to become, None if it is not one of ours."""
    match = _TEMP.match(path.name)
    return match["name"] if match else None


def writer_gone(path: Path, max_age_s: float = STALE_AGE_S) -> bool:
    """The process that made temp `path` is gone: it ran on this host and its pid is not alive,
    or `path` was last modified more than `max_age_s` ago."""
    match = _TEMP.match(path.name)
    if not match:
        return False
    if match["host"] == HOST_TAG and not pid_alive(int(match["pid"])):
        return True
    try:
        return time.time() - path.lstat().st_mtime > max_age_s
    except FileNotFoundError:
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def sweep_stale(folder: Path, recursive: bool = False) -> list[Path]:
    """Remove the temp *files* under `folder` whose writer is gone; returns what was removed."""
    removed = []
    try:
        candidates = folder.rglob(".*.tmp-*") if recursive else folder.glob(".*.tmp-*")
        for path in list(candidates):
            if path.is_file() and writer_gone(path):
                path.unlink(missing_ok=True)
                removed.append(path)
    except OSError:
        pass  # best effort: a folder that vanished or cannot be listed is left for the next run
    return removed


def sweep_old_style(folder: Path, max_age_s: float = STALE_AGE_S) -> list[Path]:
    """Remove temp files of older versions (`.<name>.<random>.tmp`, no writer in the name) in the
    sub-folders of `folder` once older than `max_age_s`."""
    removed = []
    try:
        for path in list(folder.glob("*/.*.tmp")):
            if path.is_file() and time.time() - path.lstat().st_mtime > max_age_s:
                path.unlink(missing_ok=True)
                removed.append(path)
    except OSError:
        pass
    return removed


def remove_tree(path: Path) -> None:
    """Remove a folder (or file), renaming it to a temp name first so a kill halfway leaves a
    recognisable temp rather than a half-deleted folder under its real name."""
    aside = path.with_name(temp_name(path.name))
    try:
        os.rename(path, aside)
    except FileNotFoundError:  # already gone (another process cleaned it up first)
        return
    shutil.rmtree(aside, ignore_errors=True) if aside.is_dir() else aside.unlink(missing_ok=True)


def new_temp_folder(target: Path) -> Path:
    """An empty temp folder next to `target`, to be filled and then `publish_folder`ed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(temp_name(target.name))
    temp.mkdir()
    return temp


def publish_folder(temp: Path, target: Path) -> bool:
    """Move the finished folder `temp` into place as `target` in one rename (its files fsynced
    first). If `target` exists already (another process finished first), theirs is kept and
    `temp` discarded; returns whether `temp` became `target`."""
    for path in temp.rglob("*"):
        if path.is_file():
            with open(path, "rb") as stream:
                os.fsync(stream.fileno())
    try:
        os.rename(temp, target)  # atomic; replaces only an empty folder
    except OSError as error:
        if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
        shutil.rmtree(temp, ignore_errors=True)
        return False
    _fsync_folder(target.parent)
    return True


def _fsync_folder(folder: Path) -> None:
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call `write(temp_path)` then rename onto `path`; an interruption leaves no partial file
    (a kill leaves a temp file that `sweep_stale` removes later)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp_path = path.with_name(temp_name(path.name))
    os.close(os.open(temp_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # umask applies; results are shared
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
