"""Label a CSV of reports with the converter (what `bench labels` runs).

The output is written with the csv module's quoting rules for every text cell (QUOTE_NONNUMERIC:
text quoted, label numbers bare), so a report holding a carriage return, a line feed, quotes,
commas, tabs or NUL reads back into the same row: labels stay aligned with their ids.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from vlpbench.core.checks import expect_file
from vlpbench.core.errors import VlpbenchError
from vlpbench.datasets.labels.converter import ReportConverter, UnmappedStats
from vlpbench.datasets.labels.knowledge_base import load_knowledge_base


def label_reports_csv(input_csv: Path, output_csv: Path, text_column: str = "report",
                      lang: str = "zh") -> UnmappedStats:
    """Write `input_csv`'s columns plus one 0/1 column per category (knowledge-base order) to
    `output_csv`; `lang` is a packaged language or a knowledge-base YAML file. Empty cells give
    all-zero rows (counted in the returned statistics)."""

    input_csv, output_csv = Path(input_csv), Path(output_csv)
    if not input_csv.exists():
        raise VlpbenchError(f"{input_csv}: no such file")
    expect_file(input_csv, "reports CSV")
    expect_file(output_csv, "labels CSV")
    try:
        table = pd.read_csv(input_csv, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError:
        raise VlpbenchError(f"{input_csv}: no such file") from None
    except (OSError, ValueError) as exc:  # UnicodeDecodeError, ParserError, EmptyDataError are ValueErrors
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise VlpbenchError(f"{input_csv}: cannot read as CSV ({reason})") from None
    if text_column not in table.columns:
        raise VlpbenchError(f"{input_csv}: no column '{text_column}' (has: {', '.join(map(str, table.columns))})")
    reports = table[text_column]
    if not reports.str.strip().astype(bool).any():
        raise VlpbenchError(f"{input_csv}: column '{text_column}' has no report text")
    kb = load_knowledge_base(lang)
    clash = [key for key in kb.keys if key in table.columns]
    if clash:
        raise VlpbenchError(f"{input_csv}: columns {', '.join(clash)} would be overwritten by the labels; "
                            "rename them first")
    labels, stats = ReportConverter(kb).convert_many(reports.tolist())
    out = pd.concat([table, pd.DataFrame(labels, columns=list(kb.keys), index=table.index)], axis=1)
    try:
        output_csv.parent.mkdir(parents=True, exist_ok=True)
        out.to_csv(output_csv, index=False, quoting=csv.QUOTE_NONNUMERIC)
    except OSError as exc:
        raise VlpbenchError(f"{output_csv}: cannot write ({exc.strerror or exc})") from None
    return stats
