"""Writing a leaderboard's files: text with LF line ends, CSV with fixed float formats (the same
records give the same bytes)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


def write_csv(path: Path, frame: pd.DataFrame) -> Path:
    return write_text(path, frame.to_csv(index=False, float_format="%.10g", lineterminator="\n"))
