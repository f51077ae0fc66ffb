"""Claiming a unit of work so two `bench run`s (or two cluster jobs) on one runs/results folder
never compute it twice: an OS-level file lock (`filelock`) next to what the work produces.

The lock of `target` is the hidden file `.<target name>.lock` in its folder. A process that holds
it is the only one computing `target`; whoever acquires it must check again whether `target`
exists (another process may have finished it while this one waited). The OS releases the lock
when its holder dies, so a killed run's claims are recovered by the next run without help; the
lock files themselves stay (an unlocked lock file is harmless).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from vlpbench.core.console import make_console


def lock_path(target: Path) -> Path:
    """The lock file claiming `target` (a file or folder that is to be written)."""
    return target.with_name(f".{target.name}.lock")


@contextmanager
def claim(target: Path, what: str, wait: bool = True, enabled: bool = True) -> Iterator[bool]:
    """Hold the lock of `target` for the `with` block; yields True when held. With `wait`, a lock
    held by another process is waited for (saying so once); without, yields False at once.
    `enabled=False` yields True without locking (torchrun ranks that must all join the work)."""
    if not enabled:
        yield True
        return
    path = lock_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), mode=0o666)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if not wait:
            yield False
            return
        make_console(stderr=True).print(f"waiting for another process computing {what} (lock {path})", soft_wrap=True)
        lock.acquire()
    try:
        yield True
    finally:
        lock.release()


def is_claimed(target: Path) -> bool:
    """Another process holds the lock of `target` (checked without waiting)."""
    path = lock_path(target)
    if not path.exists():
        return False
    lock = FileLock(str(path), mode=0o666)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False
