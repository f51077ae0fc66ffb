"""Reading datasets from disk: lazy image and mask sources, label tables, and the documented,
saved split for datasets that ship without one. Every user error is a one-line `VlpbenchError`
naming the file and what was expected."""

from __future__ import annotations

import hashlib
import json
from importlib.util import find_spec
from pathlib import Path
from typing import Hashable, Sequence

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from vlpbench.core.atomic import atomic_write_json
from vlpbench.core.console import print_warning
from vlpbench.core.data_seeding import data_rng
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.fingerprint import DigestIndex
from vlpbench.datasets.base import ImageSource

#: a mask pixel is a lesion when its largest channel is ≥ this (the 8-bit midpoint: anti-aliased
#: edges count by majority, Retinal-Lesions' 127 "not AAO-compliant" marks are excluded); masks
#: coded 0/1 are read as such
MASK_THRESHOLD = 128
SPLIT_FILE = ".vlpbench_split_{name}.json"


def require_dir(path: Path, what: str) -> Path:
    """`path` if it is a folder, else an error naming it and what it should hold."""
    if not path.is_dir():
        raise VlpbenchError(f"{what}: folder {path} does not exist")
    return path


def first_existing(root: Path, candidates: Sequence[str], what: str) -> Path:
    """The first of `root/candidate` that exists (datasets ship with a few known nestings)."""
    for candidate in candidates:
        if (root / candidate).exists():
            return root / candidate
    expected = " or ".join(str(root / c) for c in candidates)
    raise VlpbenchError(f"{what}: expected {expected}")


def read_table(path: Path, required_columns: Sequence[str]) -> pd.DataFrame:
    """A CSV or XLS/XLSX label table; column names are whitespace-stripped before the check."""
    if not path.is_file():
        raise VlpbenchError(f"label table {path} does not exist")
    try:
        if path.suffix.lower() in (".xls", ".xlsx"):
            table = pd.read_excel(path, engine="calamine" if find_spec("python_calamine") else None)
        else:
            table = pd.read_csv(path, encoding="utf-8-sig")
    except ImportError as error:
        raise VlpbenchError(f"label table {path}: {_one_line(error)} (install the reader named)") from None
    except Exception as error:  # pandas/xlrd/openpyxl raise many types for malformed files
        raise VlpbenchError(f"label table {path} is not a readable {path.suffix} table: {_one_line(error)}") from None
    table.columns = [str(column).strip() for column in table.columns]
    for column in required_columns:
        if column not in table.columns:
            raise VlpbenchError(
                f"label table {path}: missing column '{column}' (has: {', '.join(map(str, table.columns))})"
            )
    return table


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def require_values(table: pd.DataFrame, columns: Sequence[str], allowed: Sequence[int], path: Path) -> np.ndarray:
    """The integer values of `columns` (n, len(columns)); any value outside `allowed` is an error
    naming the file, column and row (row 1 is the header)."""
    values = table[list(columns)].to_numpy()
    for column_index, column in enumerate(columns):
        for row, value in enumerate(values[:, column_index]):
            try:
                ok = float(value) in allowed
            except (TypeError, ValueError):
                ok = False
            if not ok:
                shown = value.item() if isinstance(value, np.generic) else value
                raise VlpbenchError(
                    f"label table {path}: column '{column}' row {row + 2} has value {shown!r}, "
                    f"expected one of {list(allowed)}"
                )
    return values.astype(np.int64)


def _decode(path: Path, size: int) -> np.ndarray:
    try:
        with Image.open(path) as image:
            if size:
                image.draft("RGB", (size, size))  # JPEG: decode at reduced scale (no-op otherwise)
            image = image.convert("RGB")
            if size and image.size != (size, size):
                image = image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=None)
            return np.asarray(image, dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as error:
        raise VlpbenchError(f"image {path} does not decode: {_one_line(error)}") from None


def _read_only(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False  # shared from the in-memory cache
    return array


class FileImageSource:
    """Images read lazily from files: RGB uint8 (size, size, 3), antialiased resize (0 = native).
    With `cache`, a decoded image is kept in memory, so epochs after the first do not decode again.

    With `skip_bad`, every file is decoded once up front; missing or undecodable files are dropped
    and listed in `skipped`; `kept` holds the original indices of the remaining ones.
    """

    def __init__(self, paths: Sequence[Path], size: int, skip_bad: bool = False, cache: bool = True) -> None:
        self.size = size
        self.cache = cache
        self._decoded: dict[int, np.ndarray] = {}
        self.skipped: list[Path] = []
        self.kept: list[int] = []
        for index, path in enumerate(paths):
            if not Path(path).is_file():
                if not skip_bad:
                    raise VlpbenchError(f"image {path} does not exist")
                self.skipped.append(Path(path))
                continue
            if skip_bad:
                try:
                    _decode(Path(path), 8)
                except VlpbenchError:
                    self.skipped.append(Path(path))
                    continue
            self.kept.append(index)
        self.paths = [Path(paths[i]) for i in self.kept]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> np.ndarray:
        if not self.cache:
            return _decode(self.paths[index], self.size)
        if index not in self._decoded:
            self._decoded[index] = _read_only(_decode(self.paths[index], self.size))
        return self._decoded[index]


def image_source_digest(images: ImageSource, index: DigestIndex) -> str:
    """A digest of every image of a source: of its files' bytes for a `FileImageSource` (with the
    decode size; through `index`, a stat per unchanged file), else of the decoded arrays."""
    if isinstance(images, FileImageSource):
        return f"{images.size}px-{index.files(images.paths)}"
    digest = hashlib.sha256()
    if isinstance(images, np.ndarray):
        digest.update(str(images.shape).encode() + np.ascontiguousarray(images).tobytes())
    else:
        for position in range(len(images)):
            digest.update(np.ascontiguousarray(images[position]).tobytes())
    return digest.hexdigest()


class FileMaskSource:
    """Binary lesion masks (L, size, size) uint8 from one file per lesion (None or a missing file ⇒
    all zeros); each mask must have its image's size. Resizing keeps pixels covered ≥ half.
    Decoded masks are kept in memory."""

    def __init__(self, image_paths: Sequence[Path], mask_paths: Sequence[Sequence[Path | None]], size: int) -> None:
        if len(image_paths) != len(mask_paths):
            raise ValueError("one list of mask files per image is required")
        self.image_paths = [Path(p) for p in image_paths]
        self.mask_paths = [[Path(m) if m is not None else None for m in masks] for masks in mask_paths]
        self.size = size
        self._decoded: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.image_paths)

    def __getitem__(self, index: int) -> np.ndarray:
        if index not in self._decoded:
            self._decoded[index] = _read_only(self._masks(index))
        return self._decoded[index]

    def _masks(self, index: int) -> np.ndarray:
        image_path = self.image_paths[index]
        try:
            with Image.open(image_path) as image:
                width, height = image.size
        except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as error:
            raise VlpbenchError(f"image {image_path} does not decode: {_one_line(error)}") from None
        out_size = (self.size, self.size) if self.size else (height, width)
        masks = np.zeros((len(self.mask_paths[index]), *out_size), dtype=np.uint8)
        for lesion, path in enumerate(self.mask_paths[index]):
            if path is None or not path.is_file():
                continue
            masks[lesion] = self._read(path, image_path, (width, height), out_size)
        return masks

    @staticmethod
    def _read(path: Path, image_path: Path, image_size: tuple[int, int], out_size: tuple[int, int]) -> np.ndarray:
        try:
            with Image.open(path) as mask:
                if mask.size != image_size:
                    raise VlpbenchError(
                        f"mask {path} is {mask.size[0]}×{mask.size[1]} but its image {image_path} is "
                        f"{image_size[0]}×{image_size[1]}"
                    )
                values = np.asarray(mask.convert("RGB")).max(axis=2)
                binary = values >= MASK_THRESHOLD if values.max() > 1 else values == 1  # 0/1-coded masks
        except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as error:
            raise VlpbenchError(f"mask {path} does not decode: {_one_line(error)}") from None
        if binary.shape != out_size:
            coverage = Image.fromarray(binary.astype(np.uint8) * 255).resize(
                (out_size[1], out_size[0]), Image.Resampling.BOX
            )
            binary = np.asarray(coverage) >= MASK_THRESHOLD
        return binary.astype(np.uint8)


def split_file(root: Path, name: str) -> Path:
    """Where the split of dataset `name` under `root` is saved."""
    return root / SPLIT_FILE.format(name=name)


def fixed_split(
    ids: Sequence[Hashable], seed: int, fractions: dict[str, float], store: Path | None = None,
    strata: Sequence[Hashable] | None = None,
) -> dict[str, list]:
    """A seeded split of `ids` into `fractions` (e.g. {"train": .7, "val": .1, "test": .2}).

    Stratified by `strata` when given (each stratum cut in the same shares). With `store`, the
    split is saved as JSON the first time and read back afterwards, so every user evaluates on the
    same ids; ids that vanished are dropped, new ids are an error.
    """
    keys = [str(i) for i in ids]
    if store is not None and store.is_file():
        return _read_split(store, keys)
    splits = _draw_split(keys, seed, fractions, None if strata is None else [str(s) for s in strata])
    if store is not None:
        try:
            atomic_write_json(store, {"seed": seed, "fractions": fractions, "splits": splits})
        except OSError as error:
            print_warning(f"could not save the split to {store}: {error.strerror}; it is re-drawn (same seed) next time")
    return splits


def _draw_split(keys: list[str], seed: int, fractions: dict[str, float], strata: list[str] | None) -> dict[str, list]:
    """Per stratum (all keys when None): shuffle with the seed, then cut by `fractions`, the
    counts rounded by largest remainder."""
    rng = data_rng(seed)
    groups: dict[str, list[str]] = {}
    for key, stratum in zip(keys, strata if strata is not None else [""] * len(keys)):
        groups.setdefault(stratum, []).append(key)
    splits: dict[str, list] = {name: [] for name in fractions}
    for stratum in sorted(groups):
        members = [groups[stratum][i] for i in rng.permutation(len(groups[stratum]))]
        start = 0
        for name, count in zip(fractions, _allocate(len(members), list(fractions.values()))):
            splits[name] += members[start:start + count]
            start += count
    return {name: sorted(ids) for name, ids in splits.items()}


def _allocate(n: int, shares: list[float]) -> list[int]:
    """n items in proportion to `shares`: floors, then the largest remainders get one more."""
    exact = [n * share / sum(shares) for share in shares]
    counts = [int(x) for x in exact]
    for i in sorted(range(len(shares)), key=lambda i: counts[i] - exact[i])[: n - sum(counts)]:
        counts[i] += 1
    return counts


def _read_split(store: Path, keys: list[str]) -> dict[str, list]:
    try:
        saved = json.loads(store.read_text(encoding="utf-8"))["splits"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise VlpbenchError(f"split file {store} is unreadable ({error}); delete it to re-draw the split") from None
    present = set(keys)
    assigned = {key for ids in saved.values() for key in ids}
    new = [key for key in keys if key not in assigned]
    if new:
        raise VlpbenchError(
            f"split file {store} does not assign {len(new)} id(s) found on disk (first: '{new[0]}'); "
            f"delete it to re-draw the split"
        )
    return {name: [key for key in ids if key in present] for name, ids in saved.items()}
