"""Leaderboards: markdown + CSV tables regenerated from result records (a pure function of them).

Layout of ViLReF Tables I–III and VIII: rows = strategies, columns = datasets × metrics + Avg,
cells `mean (std)` over seeds, best mean in bold, a marker where the best row is significantly
better (paired t-test across seeds). With several label fractions the columns become
dataset × fraction × metric (M-FLAG Tables 2–3). A deterministic single run carrying bootstrap
replicates (ood-zsc) shows `point [lo, hi]` and uses the paired bootstrap test. `ablation.md`
holds the ablation tables the strategies declare: ViLReF Tables IV–V (clip, wsc-sa, clip-be, wsc on
finetune and ood-zsc) and M-FLAG Table 4 (mflag-align, mflag-orth, mflag on linear-probe and seg).
Each task's footer adds the fitted variance components and the minimum detectable difference
(`variance_components.py`) and the statistics of `rank_statistics.py`, all with the pretraining run
as the unit (Friedman over runs, Holm-adjusted pairwise paired t-tests over runs, mean ranks and win
rates with t-intervals over runs, Δ and one verdict against a baseline),
written also to `<task>-statistics.csv` / `<task>-pairwise.csv` and drawn in
`figures/cd-<task>` / `figures/winrate-<task>` (PNG + SVG). With `html`, the same numbers also
go into a static HTML site (`site.py`).
Same records ⇒ byte-identical files: everything is sorted and floats have fixed formats.

This module builds the files; its parts live in modules of their own: loading the records
(`records_frame.py`), the table model (`table_model.py`), the renderers (`markdown.py`, `site.py`,
the terminal's `leaderboard_summary.py`), the statistics (`rank_statistics.py`, `variance.py`,
`planted.py`) and the prompt-sensitivity table (`prompt_sensitivity.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from vlpbench.core.errors import VlpbenchError, did_you_mean
from vlpbench.core.records import read_run_logs
from vlpbench.core.registry import STRATEGIES, TASKS
from vlpbench.report.external import external_section, external_tables, is_external, vilref_tables
from vlpbench.report.figure_pool import FigurePool
from vlpbench.report.files import write_csv, write_text
from vlpbench.report.geometry_figures import has_pca, pca_figure, pca_panels
from vlpbench.report.markdown import (
    ablation_headline,
    descriptive_legend,
    header_lines,
    headline_caption,
    headline_lines,
    legend_text,
    markdown_table,
    task_headline,
    text_diagnostic_lines,
    warning_lines,
)
from vlpbench.report.planted import LadderResult, detection_line, find_ladder, ladder_result, planted_rows
from vlpbench.report.prompt_sensitivity import prompt_frames, prompt_sensitivity
from vlpbench.report.published import merge_published
from vlpbench.report.rank_statistics import (
    TaskStatistics,
    metric_name,
    p_matrix,
    statistics_frames,
    statistics_lines,
    task_statistics,
    win_rate_matrix,
)
from vlpbench.report.records_frame import load_records
from vlpbench.report.site import Site, SiteColumn, TaskPage, write_site
from vlpbench.report.stat_figures import cd_diagram, pareto_scatter, winrate_heatmap
from vlpbench.report.table_model import (
    AVG,
    DESCRIPTIVE_TAG,
    KEY,
    REFERENCE_TAG,
    ZERO_SHOT_TAG,
    Column,
    ablation_components,
    ablation_families,
    column_label,
    costs,
    metric_names,
    plugin_info,
    primary_metric,
    strategy_key,
    task_title,
)
from vlpbench.report.variance import component_lines, component_row, covered_variance, downstream_cell_variance, variance_lines

CORRECTIONS = ("none", "holm")


def _with_task(cells: pd.DataFrame, task: str) -> pd.DataFrame:
    return pd.concat([pd.Series(task, index=cells.index, name="task"), cells], axis=1)


def _statistics(t: pd.DataFrame, replicates: pd.DataFrame, task: str, strategies: list[str], metric: str, baseline: str,
                margin: float, out_dir: Path, figures: FigurePool) -> tuple[list[str], list[Path], TaskStatistics]:
    """The footer's "Statistics" section of one task, its two CSVs and its two figures (queued on
    `figures`), and the statistics."""
    ts = task_statistics(t, metric, strategies, baseline, margin, downstream=downstream_cell_variance(t, replicates, metric))
    paths, svgs = [], []
    if len(ts.runs) >= 2 and ts.blocks.shape[1] >= 2:
        names = list(ts.blocks.columns)
        ranks = ts.per_strategy.set_index("strategy")["mean_rank"]
        name = metric_name(metric)
        paths += figures.draw(cd_diagram, ranks, p_matrix(ts.pairwise, names), f"{task}: mean rank on {name} ({len(ts.runs)} "
                              "runs; bars: Holm-adjusted paired t-test over runs p ≥ 0.05)", out_dir / "figures" / f"cd-{task}")
        paths += figures.draw(winrate_heatmap, win_rate_matrix(ts.blocks), f"{task}: share of (dataset, run) blocks where "
                              f"A beats B on {name} ({len(ts.runs)} runs)", out_dir / "figures" / f"winrate-{task}")
        svgs = [p.relative_to(out_dir).as_posix() for p in paths if p.suffix == ".svg"]
    per_strategy, pairwise = statistics_frames(ts, task)
    paths.append(write_csv(out_dir / f"{task}-statistics.csv", per_strategy))
    paths.append(write_csv(out_dir / f"{task}-pairwise.csv", pairwise))
    return statistics_lines(ts, task, svgs), paths, ts


def build_leaderboards(results_dir: Path, out_dir: Path, correction: str = "holm", baseline: str = "clip",
                       margin: float = 1.0, html: Path | None = None, published: Path | None = None,
                       note: Callable[[str], None] | None = None) -> list[Path]:
    """Write `<task>.md` + `<task>.csv` per task, and `ablation.md` + `.csv`, into `out_dir`;
    per task also `<task>-statistics.csv`, `<task>-pairwise.csv` and `figures/cd-<task>`,
    `figures/winrate-<task>` (.png + .svg).

    `correction` is "holm" (Holm–Bonferroni across the rows of each column, the default) or
    "none". `baseline` is the strategy Δ, TOST and win rates are computed against, `margin` the
    TOST equivalence margin in metric points. `html`: also write the static site (`site.py`) into
    that folder. `published`: a folder of published records (`leaderboards/records`) merged with
    those of `results_dir` where their protocol matches (`published.py`); every group left out is
    passed to `note` as one line. Returns the written paths, sorted.
    """
    if correction not in CORRECTIONS:
        raise VlpbenchError(f"correction {correction!r}: expected one of {', '.join(CORRECTIONS)}")
    if not (np.isfinite(margin) and margin > 0):
        raise VlpbenchError(f"margin {margin!r}: the equivalence margin must be a positive number of metric points")
    everything_loaded = load_records(Path(results_dir))
    if everything_loaded.empty:
        raise VlpbenchError(f"{results_dir}: no result records (*.json or *.jsonl.gz) found")
    run_logs = read_run_logs(Path(results_dir))
    if published is not None:
        shipped = load_records(Path(published))
        if shipped.empty:
            raise VlpbenchError(f"--with-published {published}: no published records (*.jsonl.gz) found")
        everything_loaded, left_out = merge_published(everything_loaded, shipped)
        everything_loaded = everything_loaded.sort_values(KEY, kind="stable").reset_index(drop=True)
        run_logs = read_run_logs(Path(published)) + run_logs
        for line in left_out:
            (note or print)(f"left out: {line}")
    _check_baseline(baseline, set(everything_loaded["strategy"]) | set(STRATEGIES.infos()), results_dir)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with FigurePool() as figures:
        return sorted(_build(everything_loaded, run_logs, out_dir, correction, baseline, margin, html, figures))


def _check_baseline(baseline: str, known: set[str], results_dir: Path) -> None:
    """A baseline no record and no registered strategy has is a typo, not a table without Δ."""
    if baseline not in known:
        raise VlpbenchError(f"--baseline {baseline!r}: no strategy of that name in {results_dir} or among the registered "
                            f"ones{did_you_mean(baseline, known)}")


def _build(everything_loaded: pd.DataFrame, run_logs: pd.DataFrame, out_dir: Path, correction: str, baseline: str,
           margin: float, html: Path | None, figures: FigurePool) -> list[Path]:
    """`build_leaderboards` once the records are loaded; figures are drawn by `figures`, in parallel."""
    written, ablation_md, ablation_csv, pages, fitted, detections = [], [], [], [], [], []
    task_tables: dict[str, tuple[pd.DataFrame, list[str], int, str]] = {}
    external, df = everything_loaded[is_external(everything_loaded)], everything_loaded[~is_external(everything_loaded)]
    for task in sorted(set(external["task"]) - set(df["task"])):  # tasks only released models ran
        t = external[(external["task"] == task) & ~external["replicate"]]
        lines = [f"# {task_title(task)} (`{task}`)", "", *external_section(t, metric_names(t))]
        written.append(write_text(out_dir / f"{task}.md", "\n".join(lines) + "\n"))
    foundation = None
    if (tables := vilref_tables(everything_loaded, strategy_key)) is not None:
        foundation = write_text(out_dir / "foundation-models.md", tables)
        written.append(foundation)
    if df.empty:
        return written
    for task, everything in df.groupby("task", sort=True):
        t, replicates = everything[~everything["replicate"]], everything[everything["replicate"]]
        ext = external[(external["task"] == task) & ~external["replicate"]]
        strategies = sorted(set(t["strategy"]), key=strategy_key)
        expected = int(t.groupby(["strategy", "dataset", "fraction"])["seed"].nunique().max())
        title = f"# {task_title(task)} (`{task}`)"
        if DESCRIPTIVE_TAG in plugin_info(TASKS, task).tags:
            markdown, cells, _ = markdown_table(t, strategies, expected, correction, ranked=False)
            figure = []
            if has_pca(t):
                written += figures.draw(pca_figure, pca_panels(t, strategies), f"{task}: first 3 principal components of the "
                                        "image features (first pretraining run)", out_dir / "figures" / f"pca-{task}")
                figure = ["", f"![PCA of the image features](figures/pca-{task}.svg)"]
            text = "\n".join([title, "", *header_lines(t, run_logs), "", markdown, "", descriptive_legend(task), *figure,
                              *warning_lines(t)])
            written.append(write_text(out_dir / f"{task}.md", text + "\n"))
            written.append(write_csv(out_dir / f"{task}.csv", _with_task(cells, task)))
            continue
        metric = primary_metric(t) or "auc"
        tags = {s: plugin_info(STRATEGIES, s).tags for s in strategies}
        planted = planted_rows(strategies, tags)
        strategies = [s for s in strategies if s not in planted]  # the real strategies: ranked, tested
        statistics, paths, ts = _statistics(t, replicates, task, strategies, metric, baseline, margin, out_dir, figures)
        markdown, cells, single_run = markdown_table(t, strategies, expected, correction, pairwise=(Column(AVG, 1.0, metric), ts.pairwise))
        ladder_lines, ladder_cells, result = _ladder_section(t, planted, tags, metric, expected, correction, margin)
        detect = detection_line(task, metric, result, ts.components)
        references_rows = {s for s in strategies if REFERENCE_TAG in tags.get(s, ())}
        detections.append(task_headline(task_title(task), task, metric, ts, references_rows, detect))
        written += paths
        header = [*header_lines(t, run_logs), covered_variance(t)]
        legend = legend_text(single_run, correction, "" if single_run else f"{AVG} {metric_name(metric)}")
        variance = [*component_lines(ts.components, metric_name(metric), len(ts.pairwise)),
                    *variance_lines(t, replicates, metric, strategies)]
        if ZERO_SHOT_TAG in plugin_info(TASKS, task).tags:
            variance = [*text_diagnostic_lines(t), *variance]
        warned = warning_lines(t)
        if ts.components is not None:
            fitted.append(component_row(task, metric, ts.components, len(ts.pairwise)))
        references = external_section(ext, metric_names(t)) if not ext.empty else []
        headline = headline_lines(cells, single_run, metric, ts.per_strategy, baseline, references_rows, ladder_cells, result)
        text = "\n".join([title, "", headline_caption(metric, single_run, len(ts.runs), baseline), "", *headline, detect, "",
                          "## Details", "", *header, "", markdown, "", legend, *ladder_lines, *variance, *statistics,
                          *warned, *references])
        written.append(write_text(out_dir / f"{task}.md", text + "\n"))
        every_row = pd.concat([cells, ladder_cells], ignore_index=True) if ladder_cells is not None else cells
        written.append(write_csv(out_dir / f"{task}.csv", _with_task(every_row, task)))
        if html is not None:
            # the statistics table becomes columns of the site's main table
            footer = [detect, *ladder_lines, *variance, *(line for line in statistics if not line.startswith("|")), *warned]
            pages.append(_task_page(task, t, strategies, header, legend, cells, single_run, ts, footer, paths, out_dir))
            pages[-1].references = external_tables(ext, metric_names(t)) if not ext.empty else []
        task_tables[task] = (t, strategies, expected, metric)
    for family in ablation_families():
        sections = []
        for task in plugin_info(STRATEGIES, family).ablation_tasks:
            if task not in task_tables:
                continue
            t, strategies, expected, metric = task_tables[task]
            components = ablation_components(family, strategies)
            rows, widest = list(components), max((len(c) for c in components.values()), default=0)
            if not any(0 < len(c) < widest for c in components.values()):
                continue
            markdown, cells, single_run = markdown_table(t, rows, expected, correction, ablation=components)
            sections += [f"## {task_title(task)} (`{task}`)", "", ablation_headline(cells, components, metric, single_run), "",
                         "Every metric:", "", *header_lines(t[t["strategy"].isin(rows)], run_logs),
                         "", markdown, "", legend_text(single_run, correction), ""]
            ablation_csv.append(_with_task(cells, task).assign(ablation=family))
        if sections:
            ablation_md += [f"# {plugin_info(STRATEGIES, family).ablation_title}", "", *sections]
    if ablation_md:
        written.append(write_text(out_dir / "ablation.md", "\n".join(ablation_md).rstrip("\n") + "\n"))
        written.append(write_csv(out_dir / "ablation.csv", pd.concat(ablation_csv, ignore_index=True)))
    if fitted:
        written.append(write_csv(out_dir / "variance-components.csv", pd.DataFrame(fitted)))
    records = df[~df["replicate"]]
    prompts = prompt_frames(records)
    prompt_paths = prompt_sensitivity(records, out_dir, prompts)
    written += prompt_paths
    figures.wait()  # every figure is on disk before the site copies them
    if html is not None:
        if prompts is not None:
            prompts.download = next((p for p in prompt_paths if p.suffix == ".csv"), None)
        images = sorted(path for pattern in ("tsne-*.png", "gradcam-*.png") for path in (out_dir / "figures").glob(pattern))
        leftover = _place_images(images, pages)
        cost = costs(records)
        pareto = _pareto(pages, cost, out_dir)
        site = Site(header=header_lines(records, run_logs), tasks=pages, costs=cost, detect=[f"- {d}" for d in detections],
                    order=sorted(set(records["strategy"]), key=strategy_key), baseline=baseline, margin=margin,
                    prompts=prompts, downloads=[p for p in written if p.name == "ablation.csv"],
                    images=leftover, foundation=foundation, pareto=pareto)
        written += [pareto.with_suffix(".png"), pareto] if pareto is not None else []
        written += write_site(Path(html), site)
    return written


def _place_images(images: list[Path], pages: list[TaskPage]) -> list[Path]:
    """Put each figure (t-SNE, Grad-CAM) on the first task page one of whose datasets its file name
    names; returns the figures no page takes (they stay on the overview)."""
    leftover = []
    for image in images:
        page = next((p for p in pages if any(d in image.stem for d in sorted(set(p.cells["dataset"]) - {AVG}))), None)
        (page.images if page is not None else leftover).append(image)
    return leftover


def _pareto(pages: list[TaskPage], cost: pd.DataFrame, out_dir: Path) -> Path | None:
    """The overview's cost-against-rank scatter (drawn here, after the figure pool is done): per
    strategy ranked in every task page, its mean rank over the tasks and its pretraining wall time."""
    ranks = [p.statistics.per_strategy.set_index("strategy")["mean_rank"] for p in pages if not p.statistics.per_strategy.empty]
    if not ranks:
        return None
    mean_rank = pd.concat(ranks, axis=1).dropna().mean(axis=1)
    frame = pd.DataFrame({"strategy": mean_rank.index, "mean_rank": mean_rank.to_numpy(),
                          "cost_s": cost.reindex(mean_rank.index)["pretrain_wall_time_s"].fillna(0.0).to_numpy()})
    if len(frame) < 2:
        return None
    paths = pareto_scatter(frame, f"Pretraining cost against mean rank over {len(ranks)} task(s)", out_dir / "figures" / "pareto")
    return next(p for p in paths if p.suffix == ".svg")


def _ladder_section(t: pd.DataFrame, planted: list[str], tags: dict[str, tuple[str, ...]], metric: str, expected: int,
                    correction: str, margin: float) -> tuple[list[str], pd.DataFrame | None, LadderResult | None]:
    """The planted block of a table (its reference row and rungs, in their own table, never ranked
    with the real strategies), its cells for the CSV (rungs only) and the ladder's result."""
    ladder = find_ladder(planted, tags)
    if ladder is None:
        return [], None, None
    rows = [s for s in ladder.rows if s in set(t["strategy"])]
    markdown, cells, _ = markdown_table(t, rows, expected, correction)
    result = ladder_result(t, metric, ladder, margin)
    truth = " > ".join(f"`{s}`" for s in ladder.rows)
    lines = ["", f"Planted ladder (known order by construction: {truth}; rows tagged `planted`, left out of the ranks "
                 "and tests above; † here compares the ladder's rows only):", "", markdown]
    return lines, cells[cells["strategy"].isin(planted)], result


def _task_page(task: str, t: pd.DataFrame, strategies: list[str], header: list[str], legend: str, cells: pd.DataFrame,
               single_run: bool, ts: TaskStatistics, footer: list[str], paths: list[Path], out_dir: Path) -> TaskPage:
    """What the site shows of one task, from what the markdown build computed."""
    show_fraction = set(t["fraction"]) != {1.0}
    keys = list(dict.fromkeys(zip(cells["dataset"], cells["fraction"], cells["metric"])))
    columns = [SiteColumn(d, f, m, column_label(Column(d, f, m), show_fraction)) for d, f, m in keys]
    labels = dict(zip(cells["strategy"], cells["label"]))
    downloads = [out_dir / f"{task}{suffix}.csv" for suffix in ("", "-statistics", "-pairwise")]
    return TaskPage(task=task, title=task_title(task), header=header, legend=legend, cells=cells, columns=columns,
                    strategies=strategies, labels=labels, single_run=single_run, statistics=ts, footer=footer,
                    figures=[p for p in paths if p.suffix == ".svg"], downloads=downloads)
