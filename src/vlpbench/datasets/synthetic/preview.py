"""Contact sheet of synthetic samples: image, labels as title, the report as a wrapped caption."""

from __future__ import annotations

import textwrap
import unicodedata
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

CJK_FONTS = (
    "Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans SC", "Noto Serif CJK SC", "Source Han Sans SC",
    "Source Han Sans CN", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "SimHei", "Microsoft YaHei",
    "PingFang SC", "Heiti SC", "STHeiti", "AR PL UMing CN", "AR PL UKai CN", "Droid Sans Fallback",
    "Arial Unicode MS",
)


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The first installed CJK-capable font family known to matplotlib, or None."""
    from matplotlib import font_manager  # noqa: PLC0415 — matplotlib is heavy and only needed when a figure is drawn

    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def _is_wide(ch: str) -> bool:
    return unicodedata.east_asian_width(ch) in ("W", "F")


def _wrap(text: str, columns: int, max_lines: int) -> str:
    """Wrap to `columns` display cells (CJK characters count two), at most `max_lines` lines."""
    if any(_is_wide(ch) for ch in text):
        lines, line, width = [], "", 0
        for ch in text:
            w = 2 if _is_wide(ch) else 1
            if width + w > columns:
                lines.append(line)
                line, width = "", 0
            line, width = line + ch, width + w
        lines.append(line)
    else:
        lines = textwrap.wrap(text, columns) or [""]
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1][:-1] + "…"
    return "\n".join(lines)


def contact_sheet(samples: list[tuple[np.ndarray, str, list[str]]], out: Path, columns: int = 4,
                  caption_columns: int = 38, caption_lines: int = 9) -> None:
    """Draw (image, report, labels) samples in a grid and save it to `out` (format from its suffix).

    Uses a CJK font when one is installed; otherwise Chinese glyphs render as boxes and the
    per-glyph "missing from font" warnings are silenced.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 — matplotlib is heavy and only needed when a figure is drawn
    from matplotlib.figure import Figure  # noqa: PLC0415 — matplotlib is heavy and only needed when a figure is drawn

    n = max(1, len(samples))
    cols = min(columns, n)
    rows = (n + cols - 1) // cols
    font = cjk_font()
    height = 4.7 * rows
    fig = Figure(figsize=(3.3 * cols, height))
    FigureCanvasAgg(fig)
    family = {"fontfamily": [font, "DejaVu Sans"]} if font else {}
    for i, (image, report, labels) in enumerate(samples):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(np.asarray(image))
        ax.set_axis_off()
        ax.set_title(_wrap(", ".join(labels) or "—", caption_columns - 4, 2), fontsize=9, **family)
        ax.text(0.0, -0.03, _wrap(report, caption_columns, caption_lines), transform=ax.transAxes,
                va="top", ha="left", fontsize=7.5, **family)
    fig.subplots_adjust(left=0.02, right=0.98, top=1 - 0.45 / height, bottom=1.35 / height, wspace=0.08, hspace=0.55)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from", category=UserWarning)
        warnings.filterwarnings("ignore", message=r".*missing from (current )?font", category=UserWarning)
        fig.savefig(out, dpi=110)
