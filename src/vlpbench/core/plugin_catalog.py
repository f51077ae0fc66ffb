"""Plugin metadata without importing the plugins.

Importing every plugin of a registry imports the deep-learning stack (torch, timm, transformers,
scikit-learn: seconds); the leaderboard needs only the plugins' `PluginInfo`. So a process that
discovers a registry writes its plugins' infos to a catalog file in the user cache
(`$VLPBENCH_CACHE_DIR`, else `$XDG_CACHE_HOME/vlpbench`, else `~/.cache/vlpbench`), keyed by the
SHA-256 of every source file of the vlpbench package and of every package that registers plugins
of the kind through an entry point; a later process reads the infos back only while that key
matches, so an edited or added plugin file, or an installed plugin package, is imported again.

The catalog is a cache: written atomically, ignored when unreadable, skipped when unwritable. As with
`core.fingerprint`, an edit that keeps a file's size and mtime is not seen within one process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from vlpbench.core.atomic import atomic_write
from vlpbench.core.fingerprint import DigestIndex
from vlpbench.core.plugin_info import PluginInfo

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
FORMAT = 2
#: digests of the source files read so far in this process (kept in memory only)
_SOURCES = DigestIndex(None)


def cache_dir() -> Path | None:
    """The user cache folder of vlpbench (`VLPBENCH_CACHE_DIR` overrides it); None without a home folder."""
    if os.environ.get("VLPBENCH_CACHE_DIR"):
        return Path(os.environ["VLPBENCH_CACHE_DIR"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "vlpbench"
    try:
        return Path.home() / ".cache" / "vlpbench"
    except RuntimeError:
        return None


def catalog_path(kind: str) -> Path | None:
    """The catalog of one registry kind for this installation (its package folder is in the name)."""
    folder = cache_dir()
    install = hashlib.sha256(str(PACKAGE_ROOT).encode()).hexdigest()[:12]
    return None if folder is None else folder / "plugin-catalog" / f"{kind}-{install}.json"


def _tree_digest(root: Path) -> str:
    """SHA-256 over the relative names and contents of every `.py` file under `root` (or of `root`);
    file contents come from the process's in-memory `DigestIndex`, so a file is read again only
    when its size or mtime changed."""
    files = sorted(root.rglob("*.py")) if root.is_dir() else [root]
    names = "\n".join(path.relative_to(root.parent).as_posix() for path in files)
    return hashlib.sha256(names.encode() + b"\0" + _SOURCES.files(files).encode()).hexdigest()


def _package_source(module: str) -> Path | None:
    """The folder (or file) of the top-level package of `module`, found without importing it."""
    spec = importlib.util.find_spec(module.split(".")[0])
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(spec.origin) if spec.origin and Path(spec.origin).is_file() else None


def source_key(plugin_entry_points: Iterable[EntryPoint]) -> str | None:
    """The catalog key of a registry with these entry points: the digests of vlpbench's sources, of
    each entry point and of the package it comes from. None when such a package cannot be found."""
    parts = [f"format {FORMAT}", _tree_digest(PACKAGE_ROOT)]
    for entry_point in sorted(plugin_entry_points, key=lambda ep: (ep.name, ep.value)):
        source = _package_source(entry_point.module)
        if source is None:
            return None
        parts += [f"{entry_point.name}={entry_point.value}", _tree_digest(source)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _encode(value: Any) -> Any:
    """JSON form that keeps tuples apart from lists."""
    if isinstance(value, tuple):
        return {"tuple": [_encode(v) for v in value]}
    if isinstance(value, dict):
        return {"dict": [[k, _encode(v)] for k, v in value.items()]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "tuple" in value:
            return tuple(_decode(v) for v in value["tuple"])
        return {k: _decode(v) for k, v in value["dict"]}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _encode_infos(infos: dict[str, PluginInfo]) -> dict[str, Any]:
    return {name: {f.name: _encode(getattr(info, f.name)) for f in dataclasses.fields(info)} for name, info in infos.items()}


def _decode_infos(data: dict[str, Any], info_class: type[PluginInfo]) -> dict[str, PluginInfo]:
    return {name: info_class(**{key: _decode(value) for key, value in fields.items()}) for name, fields in data.items()}


def load_infos(kind: str, group: str, info_class: type[PluginInfo]) -> dict[str, PluginInfo] | None:
    """The catalogued infos of `kind` (name → info, name order), or None when there is no catalog
    for the current sources."""
    path = catalog_path(kind)
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("key") != source_key(entry_points(group=group)):
            return None
        return dict(sorted(_decode_infos(data["infos"], info_class).items()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def save_infos(kind: str, plugin_entry_points: Iterable[EntryPoint], infos: dict[str, PluginInfo],
               info_class: type[PluginInfo]) -> None:
    """Catalog `infos`, discovered from vlpbench's package and `plugin_entry_points`, for the current
    sources, unless the catalog already holds them or an info does not survive the JSON round trip
    (then the next process imports the plugins again)."""
    key = source_key(plugin_entry_points)
    try:
        text = json.dumps({"key": key, "infos": _encode_infos(infos)}, ensure_ascii=False, sort_keys=True) + "\n"
    except (TypeError, ValueError):
        return
    path = catalog_path(kind)
    if key is None or path is None or _decode_infos(json.loads(text)["infos"], info_class) != infos:
        return
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except (OSError, UnicodeDecodeError):
        pass
    try:
        atomic_write(path, lambda temp: temp.write_text(text, encoding="utf-8"))
    except OSError:
        return
