"""Content digests of the files a cached result was built from (a manifest and its images, a
weights file, a Hugging Face folder), so a cache entry is keyed by what it was made of, not by
where it was read from.

Hashing every image on every run would cost a full read of the data; instead each file's SHA-256
is kept in an index (`INDEX_NAME`, next to the run cache) with the size and `st_mtime_ns` the file
had when it was hashed. A file whose size and mtime are unchanged is taken from the index (one
`stat`); any other is hashed again, so a file touched but not changed gets its old digest back. As
with make and rsync, an edit that keeps both the size and the mtime is not seen.

The index is a cache: it is written atomically when it changed, two processes writing it at once
merge what each added (a race loses at most some entries, hashed again later), and an unreadable index is ignored.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from vlpbench.core.atomic import atomic_write

INDEX_NAME = "file-digests.json"
#: digest of a listed file that does not exist (the reader of the file reports it, not the key)
MISSING = "missing"


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class DigestIndex:
    """File digests with a size + mtime pre-check, remembered in a JSON file (`path`; None: in memory
    only). One instance per index file and process: `DigestIndex.at(path)`."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._entries: dict[str, list] = self._read()
        self._dirty = False

    @classmethod
    @lru_cache(maxsize=None)
    def at(cls, path: Path) -> DigestIndex:
        """The process's index kept in `path`."""
        return cls(Path(path))

    def _read(self) -> dict[str, list]:
        if self.path is None or not self.path.is_file():
            return {}
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return {}  # a damaged cache index: its files are hashed again
        return loaded if isinstance(loaded, dict) else {}

    def file(self, path: Path | str) -> str:
        """The SHA-256 of one file (`MISSING` if there is none)."""
        name = os.path.abspath(path)
        try:
            status = os.stat(name)
        except OSError:
            return MISSING
        entry = self._entries.get(name)
        if entry is not None and entry[0] == status.st_size and entry[1] == status.st_mtime_ns:
            return entry[2]
        digest = sha256_file(Path(name))
        self._entries[name] = [status.st_size, status.st_mtime_ns, digest]
        self._dirty = True
        return digest

    def files(self, paths: Iterable[Path | str]) -> str:
        """One digest of the contents of `paths` in their order (names do not enter it)."""
        combined = hashlib.sha256()
        for path in paths:
            combined.update(self.file(path).encode() + b"\n")
        self.save()
        return combined.hexdigest()

    def tree(self, path: Path | str) -> str:
        """The digest of a file, or of a folder: its files' relative names and contents, sorted by name."""
        root = Path(path)
        if not root.is_dir():
            digest = self.file(root)
            self.save()
            return digest
        combined = hashlib.sha256()
        for file in sorted(p for p in root.rglob("*") if p.is_file()):
            combined.update(file.relative_to(root).as_posix().encode() + b"\0" + self.file(file).encode() + b"\n")
        self.save()
        return combined.hexdigest()

    def save(self) -> None:
        """Write the index if it changed (atomically; nothing without a path)."""
        if self.path is None or not self._dirty:
            return
        self._entries = {**self._read(), **self._entries}  # keep what other processes added meanwhile
        text = json.dumps(self._entries, separators=(",", ":"))
        atomic_write(self.path, lambda temp: temp.write_text(text, encoding="utf-8"))
        self._dirty = False
