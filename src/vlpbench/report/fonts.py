"""CJK-capable fonts, so Chinese prompt terms and category names render in figures and in the site.

matplotlib: `cjk_font()` finds the first installed CJK family (Debian: `fonts-wqy-microhei` or
`fonts-noto-cjk`) through `matplotlib.font_manager`; a font installed after matplotlib built its
font cache is not in that cache, so the system's font files whose names look CJK are added to the
font manager first. `cjk_rc()` is the rc setting that uses it: `font.family` = DejaVu Sans (the
default, so figures without Chinese stay byte-identical) with the CJK family as the glyph fallback.
Without a CJK font both fall back silently to the defaults (Chinese then prints as boxes).

HTML: `CSS_FONT_FAMILY` lists Latin system fonts first and the CJK families after them; browsers
fall back per glyph, so Chinese picks the first installed CJK font.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

#: CJK families in order of preference (matplotlib family names)
CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
    "WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Noto Serif CJK SC", "SimHei", "Microsoft YaHei", "PingFang SC",
    "Heiti SC", "STHeiti", "AR PL UMing CN", "AR PL UKai CN", "Droid Sans Fallback", "Arial Unicode MS",
)
#: lower-case fragments of the file names of CJK font files (wqy-microhei.ttc, NotoSansCJK-Regular.ttc, …)
CJK_FILE_HINTS = ("cjk", "wqy", "sourcehan", "droidsansfallback", "simhei", "msyh", "pingfang", "uming", "ukai", "heiti")
#: the matplotlib family every figure uses for Latin text
LATIN_FAMILY = "DejaVu Sans"
#: CSS `font-family` of the site: Latin system fonts, then CJK families, then the generic family
CSS_FONT_FAMILY = ", ".join([
    "system-ui", "-apple-system", '"Segoe UI"', "Roboto", '"Helvetica Neue"', "Arial", '"Noto Sans"',
    '"Noto Sans CJK SC"', '"Source Han Sans SC"', '"WenQuanYi Micro Hei"', '"WenQuanYi Zen Hei"',
    '"PingFang SC"', '"Microsoft YaHei"', '"Hiragino Sans GB"', "SimHei", "sans-serif",
])


def _installed_cjk(font_manager) -> str | None:
    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FAMILIES if name in names), None)


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The first installed CJK family of `CJK_FAMILIES` known to matplotlib, or None."""
    from matplotlib import font_manager  # noqa: PLC0415 — matplotlib is heavy and only needed when a figure is drawn

    found = _installed_cjk(font_manager)
    if found is not None:
        return found
    # The font cache predates the font (installed later): add the CJK-looking system font files it lacks.
    known = {f.fname for f in font_manager.fontManager.ttflist}
    for path in sorted(font_manager.findSystemFonts()):
        if path not in known and any(hint in Path(path).name.lower() for hint in CJK_FILE_HINTS):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError):  # an unreadable font file: skip it
                continue
    return _installed_cjk(font_manager)


def cjk_rc() -> dict[str, list[str]]:
    """rc settings that render CJK glyphs (`{}` without a CJK font): for `matplotlib.rc_context`."""
    font = cjk_font()
    return {"font.family": [LATIN_FAMILY, font]} if font else {}


def use_cjk_font() -> str | None:
    """Set matplotlib's `font.family` globally so CJK text renders; returns the CJK family or None."""
    import matplotlib  # noqa: PLC0415 — matplotlib is heavy and only needed when a figure is drawn

    matplotlib.rcParams.update(cjk_rc())
    return cjk_font()
