"""A user's own pretraining corpus from a manifest (e.g. a private hospital's image–report pairs).

The manifest is CSV (or XLS/XLSX) or JSONL with columns `image` (a path, relative to the
manifest's folder unless absolute) and `report`, plus optional label columns named by the
knowledge-base category keys (all 33 or none). Rows without labels get them from the report
converter (ViLReF §III-A); the validation split is class-balanced (ViLReF §III-E: 1,000 samples).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from rich.table import Table

from vlpbench.core.console import make_console
from vlpbench.core.data_seeding import data_rng
from vlpbench.core.errors import VlpbenchError
from vlpbench.datasets.base import PretrainCorpus
from vlpbench.datasets.files import FileImageSource, read_table
from vlpbench.datasets.labels.converter import ReportConverter
from vlpbench.datasets.labels.knowledge_base import load_knowledge_base
from vlpbench.datasets.labels.label_stats import mean_label_entropy
from vlpbench.datasets.splits import balanced_validation

VALIDATION_SEED = 0
VALIDATION_SIZE = 1000  # ViLReF §III-E
VALIDATION_SHARE = 0.1  # at most this share of a small corpus is held out
REQUIRED = ("image", "report")
CACHE_BYTES = 2 << 30  # decoded images are kept in memory when the whole corpus fits in this


def load_manifest_corpus(path: Path, image_size: int, language: str = "zh", converter=None) -> PretrainCorpus:
    """The corpus a manifest describes; converter statistics are printed and kept in the card."""

    path = Path(path)
    table = _read_manifest(path)
    kb = load_knowledge_base(language)
    reports = _reports(table, path)
    labels, given = _given_labels(table, kb.keys, path)
    pending = np.flatnonzero(~given)
    converter = converter or ReportConverter(kb)
    converted, stats = converter.convert_many([reports[i] for i in pending])
    labels[pending] = converted
    cache = len(table) * max(image_size, 1) ** 2 * 3 <= CACHE_BYTES if image_size else False
    images = FileImageSource([_resolve(path, value) for value in table["image"]], image_size, cache=cache)
    no_findings = int((labels.sum(axis=1) == 0).sum())
    size = min(VALIDATION_SIZE, int(VALIDATION_SHARE * len(reports)))
    per_category = max(1, size // len(kb.keys))
    val_indices = balanced_validation(labels, per_category, data_rng(VALIDATION_SEED))
    card = {
        "manifest": str(path), "size": len(reports), "language": language,
        "labels_from_columns": int(given.sum()), "labels_from_converter": len(pending),
        "phrases": stats.phrases, "unmapped_phrases": stats.unmapped_phrases,
        "most_frequent_unmapped": stats.most_common(10), "no_findings": no_findings,
        "mle": round(mean_label_entropy(labels, kb.others_index), 4),
        "validation": {"size": len(val_indices), "per_category": per_category, "seed": VALIDATION_SEED},
        "images_cached_in_memory": cache,
    }
    _print_card(card)
    return PretrainCorpus(path.stem, images, reports, labels, val_indices, language, card=card)


def manifest_files(path: Path) -> list[Path]:
    """The manifest file followed by the image files it lists, in its order (what a corpus read from it is made of)."""
    path = Path(path)
    return [path, *(_resolve(path, value) for value in _read_manifest(path)["image"])]


def _read_manifest(path: Path) -> pd.DataFrame:
    if path.suffix.lower() in (".jsonl", ".json"):
        if not path.is_file():
            raise VlpbenchError(f"manifest {path} does not exist")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise VlpbenchError(f"manifest {path} cannot be read as UTF-8 text ({' '.join(str(error).split())})") from None
        rows = []
        for number, line in enumerate(text.split("\n"), start=1):  # not splitlines: U+2028 may sit in a JSON string
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as error:
                raise VlpbenchError(f"manifest {path} line {number} is not JSON: {error}") from None
            if not isinstance(row, dict):
                raise VlpbenchError(f"manifest {path} line {number}: expected a JSON object per line")
            rows.append(row)
        table = pd.DataFrame(rows)
    else:
        table = read_table(path, ())
    for column in REQUIRED:
        if column not in table.columns:
            raise VlpbenchError(f"manifest {path}: missing column '{column}' (has: {', '.join(map(str, table.columns))})")
    if table.empty:
        raise VlpbenchError(f"manifest {path} lists no image–report pairs")
    return table


def _reports(table: pd.DataFrame, path: Path) -> list[str]:
    reports = []
    for row, value in enumerate(table["report"]):
        if not isinstance(value, str) or not value.strip():
            raise VlpbenchError(f"manifest {path} pair {row + 1}: empty report for image {table['image'].iloc[row]}")
        reports.append(value)
    return reports


def _given_labels(table: pd.DataFrame, keys: tuple[str, ...], path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(labels, given): label columns, when present, fill the rows where they are filled in."""
    labels = np.zeros((len(table), len(keys)), np.uint8)
    present = [key for key in keys if key in table.columns]
    if not present:
        return labels, np.zeros(len(table), bool)
    missing = [key for key in keys if key not in table.columns]
    if missing:
        raise VlpbenchError(f"manifest {path}: label columns must be all {len(keys)} category keys or none; "
                            f"missing '{missing[0]}'")
    values = table[list(keys)].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    raw = table[list(keys)].to_numpy(dtype=object)
    given = ~np.isnan(values).all(axis=1)
    bad = np.argwhere(given[:, None] & ~np.isin(values, (0.0, 1.0)))
    if len(bad):
        row, column = bad[0]
        shown = raw[row, column].item() if isinstance(raw[row, column], np.generic) else raw[row, column]
        raise VlpbenchError(f"manifest {path} pair {row + 1}: label '{keys[column]}' is {shown!r}, "
                            f"expected 0 or 1 (or all labels empty to use the converter)")
    labels[given] = values[given].astype(np.uint8)
    return labels, given


def _resolve(manifest: Path, value) -> Path:
    image = Path(str(value).strip())
    return image if image.is_absolute() else manifest.parent / image


def _print_card(card: dict) -> None:
    table = Table(title=f"corpus {card['manifest']}", show_header=False)
    frequent = ", ".join(f"{phrase} ×{count}" for phrase, count in card["most_frequent_unmapped"][:5]) or "—"
    for name, value in (
        ("image–report pairs", card["size"]),
        ("labels from columns / converter", f"{card['labels_from_columns']} / {card['labels_from_converter']}"),
        ("unmapped phrases", f"{card['unmapped_phrases']} of {card['phrases']} (most frequent: {frequent})"),
        ("reports with no findings (zero labels)", card["no_findings"]),
        ("mean label entropy (eq 14)", card["mle"]),
        ("validation (class-balanced)", card["validation"]["size"]),
    ):
        table.add_row(name, str(value))
    make_console(stderr=True).print(table)
