"""The static HTML leaderboard (`bench leaderboard --html SITE`): one self-contained folder.

Pages (jinja2 templates in `report/templates/`, CSS and the sorting script inline, no network):

- `index.html`: one row per strategy across tasks (mean rank [95 % CI] and the primary metric's
  mean (SD) per task, pretraining wall time), the provenance header, t-SNE figures, downloads;
- `<task>.html`: the dataset-averaged table with the rank statistics, significance (†), below
  random-init (▽) and TOST-equivalence (≡) marks, the critical-difference diagram, the win-rate
  heat map, one collapsible table per dataset, the footer of the markdown leaderboard;
- `prompt-sensitivity.html`: zero-shot macro AUC per prompt protocol, per dataset, and the
  prompt texts every protocol embeds (Chinese terms from the knowledge base);
- with released models in the records (`bench run --model`): their own section on each task page
  (cells, backbone, source, licence, loaded fraction of each tower) and `foundation-models.html`,
  the ViLReF Tables VI–VIII layout of `foundation-models.md` (also a download); without them the
  site is what it was;
- `figures/*.svg` and `data/*.csv`: copies of what the markdown build wrote, linked relatively.

The inputs are what `leaderboard.build_leaderboards` computed (nothing is recomputed), so the site
is as deterministic as the markdown: same records ⇒ byte-identical files.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from vlpbench.datasets.labels.knowledge_base import load_knowledge_base
from vlpbench.report.files import write_text
from vlpbench.report.fonts import CSS_FONT_FAMILY
from vlpbench.report.rank_statistics import EQUIVALENT, NOT_AVAILABLE, TaskStatistics, metric_name
from vlpbench.tasks.prompt_texts import PROTOCOLS, TEMPLATES, surface_forms

TEMPLATES_DIR = Path(__file__).parent / "templates"
MARK, FLOOR_MARK, EQUIVALENT_MARK = "†", "▽", "≡"
AVG = "Avg"
INDEX, PROMPTS, FOUNDATION = "index.html", "prompt-sensitivity.html", "foundation-models.html"
FIGURES, DATA = "figures", "data"


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True)
class SiteColumn:
    """One leaderboard column: a dataset (or Avg), a label fraction, a metric and its header text."""

    dataset: str
    fraction: float
    metric: str
    label: str

    @property
    def average(self) -> bool:
        return self.dataset == AVG


@dataclass
class TaskPage:
    """What the markdown build computed for one task, handed to the site."""

    task: str
    title: str
    header: list[str]  # provenance, markdown bullet lines
    legend: str  # the markdown legend of the table
    cells: pd.DataFrame  # the `<task>.csv` frame: one row per (column, strategy), with the task's costs
    columns: list[SiteColumn]
    strategies: list[str]
    labels: dict[str, str]  # strategy → row label ("clip (4/5 seeds)")
    single_run: bool
    statistics: TaskStatistics
    footer: list[str]  # markdown lines below the table: variance, statistics (its table is in the main table), warnings
    figures: list[Path]  # SVGs written by the markdown build
    downloads: list[Path]  # CSVs written by the markdown build
    references: list[str] = field(default_factory=list)  # markdown tables of the released models (`external.external_tables`)
    images: list[Path] = field(default_factory=list)  # figures of this task's datasets (t-SNE, Grad-CAM PNGs)


@dataclass
class PromptPage:
    """The prompt-sensitivity numbers (`leaderboard.prompt_frames`) and the text languages of the records."""

    long: pd.DataFrame  # strategy, seed, dataset, protocol, auc
    wide: pd.DataFrame  # strategy × protocol: mean over datasets and runs
    spread: pd.Series
    languages: list[str]
    download: Path | None = None


@dataclass
class Site:
    header: list[str]  # provenance of all records
    tasks: list[TaskPage]
    costs: pd.DataFrame  # strategy → pretrain_wall_time_s, pretrain_peak_memory_mb over every task (the overview)
    order: list[str]  # strategies in leaderboard order
    baseline: str
    margin: float
    prompts: PromptPage | None = None
    downloads: list[Path] = field(default_factory=list)  # CSVs not owned by a task (ablation)
    images: list[Path] = field(default_factory=list)  # extra figures (t-SNE PNGs)
    foundation: Path | None = None  # foundation-models.md (released models, ViLReF Tables VI–VIII layout), if written
    detect: list[str] = field(default_factory=list)  # per task: the headline and what the grid can detect (markdown)
    pareto: Path | None = None  # the cost-against-rank scatter (SVG)


# ---------------------------------------------------------------- tables


@dataclass(frozen=True)
class Th:
    text: str
    numeric: bool = True
    first: str = "desc"  # direction of the first click: "desc" for scores, "asc" for ranks and names
    title: str = ""


@dataclass(frozen=True)
class Td:
    text: str
    value: str | None = None  # data-v: the number sorted on ("" = no value, sorted last)
    best: bool = False
    marks: str = ""
    classes: str = ""


@dataclass(frozen=True)
class Group:
    """A header cell spanning columns above the sortable header row (a task of the overview)."""

    text: str
    span: int
    href: str = ""


@dataclass(frozen=True)
class Table:
    headers: list[Th]
    rows: list[list[Td]]
    groups: list[Group] = field(default_factory=list)


def _f(x: float, fmt: str = ".2f") -> str:
    return "–" if x is None or not np.isfinite(x) else format(x, fmt)


def _v(x: float) -> str:
    """A sort key written into the page: fixed precision, "" for no value."""
    return "" if x is None or not np.isfinite(x) else format(float(x), ".10g")


def _interval(value: float, lo: float, hi: float, fmt: str = ".2f") -> str:
    if not np.isfinite(value):
        return "–"
    return format(value, fmt) + (f" [{format(lo, fmt)}, {format(hi, fmt)}]" if np.isfinite(lo) else "")


def _cell(c: dict, single_run: bool, extra_mark: str = "") -> Td:
    """A leaderboard cell as the markdown shows it, its marks apart so the page can style them."""
    if c["status"] != "ok":
        return Td("n/a" if c["status"] == "n/a" else "–", "", classes="na")
    if single_run:
        text = f"{c['mean']:.2f}" + ("" if pd.isna(c["lo"]) else f" [{c['lo']:.2f}, {c['hi']:.2f}]")
    else:
        text = f"{c['mean']:.2f} ({_f(c['std'])})"
    marks = (FLOOR_MARK if c["below_floor"] else "") + (MARK if c["significant"] and not c["best"] else "") + extra_mark
    return Td(text, _v(c["mean"]), best=bool(c["best"]), marks=marks)


def _strategy_td(label: str, index: int) -> Td:
    return Td(label, str(index), classes="name")


def _cost_tds(costs: pd.DataFrame, strategy: str) -> list[Td]:
    wall = costs.at[strategy, "pretrain_wall_time_s"] if strategy in costs.index else np.nan
    memory = costs.at[strategy, "pretrain_peak_memory_mb"] if strategy in costs.index else np.nan
    return [Td(_f(wall, ".1f"), _v(wall)), Td(_f(memory, ".0f"), _v(memory))]


COST_HEADERS = [Th("Pretrain (s)", first="asc", title="pretraining wall time, summed over the strategy's checkpoints"),
                Th("Peak mem (MB)", first="asc", title="peak memory of pretraining")]


def _primary_column(page: TaskPage) -> SiteColumn | None:
    """The column the overview shows: Avg of the primary metric at fraction 1, else its only dataset column."""
    candidates = [c for c in page.columns if c.metric == page.statistics.metric and c.fraction == 1.0]
    return next((c for c in candidates if c.average), candidates[0] if len(candidates) == 1 else None)


def _by_cell(page: TaskPage) -> dict[tuple[str, str, float, str], dict]:
    return {(r["strategy"], r["dataset"], r["fraction"], r["metric"]): r for r in page.cells.to_dict("records")}


def _statistics_rows(ts: TaskStatistics) -> dict[str, dict]:
    return {r["strategy"]: r for r in ts.per_strategy.to_dict("records")} if not ts.per_strategy.empty else {}


def _verdict(ts: TaskStatistics, strategy: str, row: dict | None) -> Td:
    if strategy == ts.baseline:
        return Td("baseline", classes="muted")
    if row is None or ts.baseline_missing:
        return Td("–")
    verdict = row["verdict"]
    if verdict == EQUIVALENT:
        return Td(f"{EQUIVALENT_MARK} equivalent", classes="equivalent")
    return Td("n/a" if verdict == NOT_AVAILABLE else verdict, classes=verdict if verdict in ("better", "worse") else "")


def _statistics_tds(ts: TaskStatistics, strategy: str, row: dict | None) -> list[Td]:
    """Mean rank [CI], Δ [CI], verdict and win rate [CI] against the baseline of one row."""
    if row is None:
        return [Td("not ranked", "", classes="na"), Td("–", ""), Td("–"), Td("–", "")]
    rank = Td(_interval(row["mean_rank"], row["rank_lo"], row["rank_hi"]), _v(row["mean_rank"]))
    if strategy == ts.baseline or ts.baseline_missing:
        against = Td("baseline" if strategy == ts.baseline else "–", "", classes="muted")
        return [rank, against, _verdict(ts, strategy, row), against]
    return [rank, Td(_interval(row["delta"], row["delta_lo"], row["delta_hi"], "+.2f"), _v(row["delta"])),
            _verdict(ts, strategy, row), Td(_interval(row["win_rate"], row["win_lo"], row["win_hi"]), _v(row["win_rate"]))]


def task_table(page: TaskPage, columns: list[SiteColumn], with_statistics: bool) -> Table:
    """Rows = strategies; the given leaderboard columns, and with `with_statistics` the rank
    statistics and the task's costs (the main table; a per-dataset table has neither)."""
    ts, cells, stats = page.statistics, _by_cell(page), _statistics_rows(page.statistics)
    costs = page.cells.drop_duplicates("strategy").set_index("strategy")
    primary = _primary_column(page)
    base = ts.baseline
    headers = [Th("Strategy", numeric=False, first="asc")]
    headers += [Th(c.label) for c in columns]
    if with_statistics:
        headers += [Th("Mean rank [95 % CI]", first="asc", title="rank 1 = best; within-(dataset, run) ranks averaged; CI: t-interval over runs"),
                    Th(f"Δ vs {base} [95 % CI]", title=f"paired by pretraining run, dataset-averaged {metric_name(ts.metric)}"),
                    Th(f"Verdict vs {base} (±{ts.margin:.2f})", numeric=False, first="asc", title="Holm-adjusted paired t-test over runs, else TOST over runs"),
                    Th(f"Win rate vs {base} [95 % CI]")]
    headers += COST_HEADERS if with_statistics else []
    rows = []
    for i, s in enumerate(page.strategies):
        row = stats.get(s)
        equivalent = row is not None and row["verdict"] == EQUIVALENT and not ts.baseline_missing and s != base
        tds = [_strategy_td(page.labels[s], i)]
        for c in columns:
            mark = EQUIVALENT_MARK if equivalent and c == primary else ""
            tds.append(_cell(cells[(s, c.dataset, c.fraction, c.metric)], page.single_run, mark))
        if with_statistics:
            tds += _statistics_tds(ts, s, row) + _cost_tds(costs, s)
        rows.append(tds)
    return Table(headers, rows)


def overview_table(site: Site) -> Table:
    """One row per strategy: per task the mean rank [CI] and the primary metric mean (SD), then the cost."""
    headers, groups = [Th("Strategy", numeric=False, first="asc")], [Group("", 1)]
    per_task = []
    for page in site.tasks:
        primary = _primary_column(page)
        metric = metric_name(page.statistics.metric)
        headers += [Th("rank [95 % CI]", first="asc", title=f"{page.task}: mean rank on {metric} at fraction 1, 1 = best"),
                    Th(primary.label if primary else metric,
                       title=f"{page.task}: " + ("point [95 % bootstrap CI]" if page.single_run else "mean (SD) over seeds"))]
        groups.append(Group(page.title, 2, f"{page.task}.html"))
        per_task.append((page, primary, _by_cell(page), _statistics_rows(page.statistics)))
    headers += COST_HEADERS
    groups.append(Group("Pretraining cost", len(COST_HEADERS)))
    strategies = [s for s in site.order if any(s in page.strategies for page in site.tasks)]
    rows = []
    for i, s in enumerate(strategies):
        tds = [_strategy_td(s, i)]
        for page, primary, cells, stats in per_task:
            row = stats.get(s)
            rank = Td(_interval(row["mean_rank"], row["rank_lo"], row["rank_hi"]), _v(row["mean_rank"])) if row else Td("–", "", classes="na")
            key = (s, primary.dataset, primary.fraction, primary.metric) if primary else None
            value = _cell(cells[key], page.single_run) if key in cells else Td("–", "", classes="na")
            tds += [rank, value]
        tds += _cost_tds(site.costs, s)
        rows.append(tds)
    return Table(headers, rows, groups)


_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?")


def _markdown_table(lines: list[str]) -> Table:
    """A GitHub pipe table (the footers' variance and statistics tables) as a sortable table."""
    def split(line: str) -> list[str]:
        return [c.strip() for c in line.strip().strip("|").split("|")]

    headers = [Th(_inline(h), numeric=i > 0) for i, h in enumerate(split(lines[0]))]
    rows = []
    for line in lines[2:]:
        tds = []
        for text in split(line):
            number = _NUMBER.match(text)
            tds.append(Td(_inline(text), number.group(0) if number else ""))
        rows.append(tds)
    return Table(headers, rows)


# ---------------------------------------------------------------- markdown fragments


_CODE, _BOLD, _EM = re.compile(r"`([^`]+)`"), re.compile(r"\*\*(.+?)\*\*"), re.compile(r"(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])")


def _inline(text: str) -> Markup:
    """Markdown inline code, bold and emphasis of the leaderboard's own lines, HTML-escaped."""
    html = str(escape(text))
    html = _CODE.sub(r"<code>\1</code>", html)
    html = _BOLD.sub(r"<strong>\1</strong>", html)
    return Markup(_EM.sub(r"<em>\1</em>", html))


_HEADING = re.compile(r"^(#{2,3}) (.*)$")


def _blocks(lines: list[str]) -> list[tuple[str, object]]:
    """Markdown lines → ("p", text) | ("ul", [items]) | ("table", Table) | ("h2"/"h3", text)
    blocks for the templates."""
    blocks: list[tuple[str, object]] = []
    run: list[str] = []
    kind = ""

    def close() -> None:
        if kind == "h":
            level, text = _HEADING.match(run[0]).groups()
            blocks.append((f"h{len(level)}", _inline(text)))
        elif kind == "ul":
            blocks.append(("ul", [_inline(item[2:]) for item in run]))
        elif kind == "table":
            blocks.append(("table", _markdown_table(run)))
        elif kind == "p":
            blocks.append(("p", _inline(" ".join(run))))
        run.clear()

    for line in lines:
        this = ("h" if _HEADING.match(line) else "ul" if line.startswith("- ") else "table" if line.startswith("|")
                else "p" if line.strip() else "")
        if this != kind or this in ("p", "h"):
            close()
            kind = this
        if this:
            run.append(line)
    close()
    return blocks


# ---------------------------------------------------------------- prompt sensitivity


def prompt_tables(prompts: PromptPage, order: list[str]) -> tuple[Table, list[tuple[str, Table]]]:
    """The protocol table (mean over datasets and runs, spread) and one table per dataset."""
    protocols = sorted(prompts.wide.columns, key=lambda p: (PROTOCOLS.index(p) if p in PROTOCOLS else len(PROTOCOLS), p))
    headers = [Th("Strategy", numeric=False, first="asc"), *(Th(p) for p in protocols),
               Th("spread", first="asc", title="best − worst protocol")]
    main = []
    for i, s in enumerate(prompts.wide.index):
        best = prompts.wide.loc[s].max()
        main.append([_strategy_td(s, i), *(Td(_f(prompts.wide.at[s, p]), _v(prompts.wide.at[s, p]),
                                               best=bool(prompts.wide.at[s, p] == best)) for p in protocols),
                     Td(_f(prompts.spread[s]), _v(prompts.spread[s]))])
    per_dataset = prompts.long.groupby(["dataset", "strategy", "protocol"])["auc"].agg(["mean", "std"])
    tables = []
    for dataset in sorted(prompts.long["dataset"].unique()):
        part = per_dataset.loc[dataset]
        strategies = [s for s in order if s in part.index.get_level_values("strategy")]
        rows = []
        for i, s in enumerate(strategies):
            row = [_strategy_td(s, i)]
            for p in protocols:
                mean, std = (part.at[(s, p), "mean"], part.at[(s, p), "std"]) if (s, p) in part.index else (np.nan, np.nan)
                row.append(Td(f"{_f(mean)} ({_f(std)})" if np.isfinite(mean) else "–", _v(mean)))
            rows.append(row)
        tables.append((dataset, Table(headers[:-1], rows)))
    return Table(headers, main), tables


def prompt_texts(language: str) -> dict:
    """What each protocol embeds for every knowledge-base category in `language` (tasks/prompt_texts.py)."""
    kb = load_knowledge_base(language)
    rows = []
    for key in kb.keys:
        term = kb.term(key)
        rows.append({"key": key, "term": surface_forms(term, language, "term")[0],
                     "knowledge": surface_forms(term, language, "knowledge")})
    return {"language": language, "templates": list(TEMPLATES.get(language, ())), "rows": rows}


# ---------------------------------------------------------------- writing


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=True, undefined=StrictUndefined,
                      keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["md"] = _inline
    env.filters["blocks"] = _blocks
    return env


def _copy(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    if not (target.exists() and target.samefile(source)):  # the site folder may be the markdown folder
        shutil.copyfile(source, target)
    return target


def write_site(site_dir: Path, site: Site) -> list[Path]:
    """Write the site into `site_dir` (created; files of an earlier site are overwritten, others
    kept); returns the written paths, sorted."""
    site_dir = Path(site_dir)
    site_dir.mkdir(parents=True, exist_ok=True)
    env = _environment()
    written: list[Path] = []
    nav = [(INDEX, "Overview")] + [(f"{p.task}.html", p.title) for p in site.tasks]
    nav += [(PROMPTS, "Prompt sensitivity")] if site.prompts is not None else []
    nav += [(FOUNDATION, "Released models")] if site.foundation is not None else []
    common = {"nav": nav, "font_family": CSS_FONT_FAMILY, "baseline": site.baseline, "margin": f"{site.margin:.2f}"}

    def data_link(path: Path) -> str:
        written.append(_copy(path, site_dir / DATA / path.name))
        return f"{DATA}/{path.name}"

    def figure_link(path: Path) -> str:
        written.append(_copy(path, site_dir / FIGURES / path.name))
        return f"{FIGURES}/{path.name}"

    downloads = []
    for page in site.tasks:
        primary = _primary_column(page)
        averages = [c for c in page.columns if c.average]
        datasets = sorted({c.dataset for c in page.columns if not c.average})
        drill = [(d, task_table(page, [c for c in page.columns if c.dataset == d], False)) for d in datasets] if averages else []
        links = [data_link(p) for p in page.downloads]
        downloads.append((page.title, links))
        figures = [(figure_link(p), p.stem.split("-", 1)[0]) for p in page.figures]
        html = env.get_template("task.html.j2").render(
            **common, page_name=f"{page.task}.html", title=page.title, task=page.task, header=page.header,
            legend=page.legend, table=task_table(page, averages or page.columns, True), drill=drill,
            footer=page.footer, figures=figures, images=[(figure_link(p), p.stem) for p in page.images], downloads=links,
            metric=metric_name(page.statistics.metric),
            primary=primary.label if primary else "", single_run=page.single_run, references=page.references,
            foundation=FOUNDATION if site.foundation is not None else "")
        written.append(write_text(site_dir / f"{page.task}.html", html))
    if site.prompts is not None:
        main, per_dataset = prompt_tables(site.prompts, site.order)
        link = data_link(site.prompts.download) if site.prompts.download else ""
        downloads += [("Prompt sensitivity", [link])] if link else []
        html = env.get_template("prompts.html.j2").render(
            **common, page_name=PROMPTS, title="Prompt sensitivity of zero-shot classification", table=main,
            per_dataset=per_dataset, datasets=", ".join(sorted(site.prompts.long["dataset"].unique())),
            protocols=list(PROTOCOLS), texts=[prompt_texts(lang) for lang in site.prompts.languages], download=link)
        written.append(write_text(site_dir / PROMPTS, html))
    if site.foundation is not None:
        lines = site.foundation.read_text(encoding="utf-8").splitlines()
        link = data_link(site.foundation)
        downloads.append(("Released foundation models (ViLReF Tables VI–VIII layout)", [link]))
        html = env.get_template("foundation.html.j2").render(
            **common, page_name=FOUNDATION, title=lines[0].lstrip("# "), body=lines[1:], download=link)
        written.append(write_text(site_dir / FOUNDATION, html))
    downloads += [("Ablation tables (ViLReF Tables IV–V, M-FLAG Table 4)" if p.stem == "ablation" else p.stem, [data_link(p)]) for p in site.downloads]
    images = [(figure_link(p), p.stem) for p in site.images]
    html = env.get_template("index.html.j2").render(
        **common, page_name=INDEX, title="vlpbench leaderboard", header=site.header, table=overview_table(site),
        tasks=[(f"{p.task}.html", p.title, p.task) for p in site.tasks], downloads=downloads, images=images,
        has_prompts=site.prompts is not None, detect=site.detect,
        pareto=figure_link(site.pareto) if site.pareto is not None else "")
    written.append(write_text(site_dir / INDEX, html))
    return sorted(set(written))
