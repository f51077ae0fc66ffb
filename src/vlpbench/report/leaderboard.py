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
rates with cluster-bootstrap CIs, Δ and one verdict against a baseline),
written also to `<task>-statistics.csv` / `<task>-pairwise.csv` and drawn in
`figures/cd-<task>` / `figures/winrate-<task>` (PNG + SVG). With `html`, the same numbers also
go into a static HTML site (`site.py`).
Same records ⇒ byte-identical files: everything is sorted and floats have fixed formats.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tabulate import tabulate

from vlpbench.core.errors import VlpbenchError, did_you_mean
from vlpbench.core.records import KEY as RECORD_KEY
from vlpbench.core.records import PACKED_SUFFIX, read_packed, read_record, read_run_logs
from vlpbench.core.registry import STRATEGIES, TASKS, PluginInfo, Registry
from vlpbench.report.external import external_section, external_tables, is_external, vilref_tables
from vlpbench.report.figure_pool import FigurePool
from vlpbench.report.geometry_figures import has_pca, pca_figure, pca_panels
from vlpbench.report.planted import LadderResult, detection_line, find_ladder, ladder_result, planted_rows
from vlpbench.report.published import merge_published
from vlpbench.report.rank_statistics import (
    TaskStatistics,
    metric_name,
    p_matrix,
    pair_row,
    statistics_frames,
    statistics_lines,
    task_statistics,
    win_rate_matrix,
)
from vlpbench.report.site import PromptPage, Site, SiteColumn, TaskPage, write_site
from vlpbench.report.stat_figures import cd_diagram, winrate_heatmap
from vlpbench.report.statistics import bootstrap_ci, holm, paired_bootstrap_p, paired_ttests
from vlpbench.report.variance import component_lines, component_row, covered_variance, downstream_cell_variance, variance_lines

KEY = list(RECORD_KEY)
ALPHA = 0.05
MARK = "†"
AVG = "Avg"
CORRECTIONS = ("none", "holm")
METRIC_ORDER = ("auc", "map", "dsc", "iou")
METRIC_NAMES = {"auc": "AUC", "map": "mAP", "dsc": "DSC", "iou": "IoU"}
FLOOR_TAG, REFERENCE_TAG = "floor", "reference"  # random-init is the floor; reference rows are not flagged
FLOOR_MARK = "▽"
DESCRIPTIVE_TAG = "descriptive"  # tasks whose table describes (mean, std) without ranking the rows
ABLATION_TAG = "ablation"  # rows of an ablation table: tags "ablation:<family>", components "ablation:<family>:<X>"


@dataclass(frozen=True)
class Column:
    """One table column: a dataset (or `AVG`), a label fraction and a metric."""

    dataset: str
    fraction: float
    metric: str


# ---------------------------------------------------------------- loading


def _load_one(path: Path | str, rec: dict) -> dict:
    """One validated record (core/records.py) flattened into a table row."""
    metrics = {str(k): float(v) for k, v in (rec["metrics"] or {}).items()}
    seed, fraction = int(rec["seed"]), float(rec["fraction"])
    corpus, enc, pre = rec.get("corpus") or {}, rec.get("encoders") or {}, rec.get("pretrain") or {}
    return {
        "path": str(path), "strategy": str(rec["strategy"]), "task": str(rec["task"]),
        "dataset": str(rec["dataset"]), "fraction": fraction, "seed": seed, "status": rec["status"],
        "metrics": metrics, "ci": rec.get("ci") or {}, "bootstrap": rec.get("bootstrap") or {},
        "warnings": list(rec.get("warnings") or []), "profile": rec.get("profile") or "",
        "config_hash": rec.get("config_hash") or "", "checkpoint_hash": rec.get("checkpoint_hash") or "",
        "corpus_name": corpus.get("name") or "", "corpus_size": corpus.get("size"),
        "corpus_mle": corpus.get("mle"), "encoder_image": enc.get("image") or "",
        "encoder_text": enc.get("text") or "", "pretrain_wall_time_s": pre.get("wall_time_s"),
        "pretrain_peak_memory_mb": pre.get("peak_memory_mb"), "wall_time_s": rec.get("wall_time_s"),
        "peak_memory_mb": rec.get("peak_memory_mb"),
        "version": (rec.get("versions") or {}).get("vlpbench") or "",
        "git_commit": rec.get("git_commit") or "", "created": rec.get("created") or "",
        "pretrain_seed": None if rec.get("pretrain_seed") is None else int(rec["pretrain_seed"]), "replicate": bool(rec.get("replicate", False)),
        "extra": rec.get("extra") or {}, "text_language": _text_language(rec),
        "external": rec.get("external") or {}, "weights_loaded": rec.get("weights_loaded") or [],
        "task_options": _task_options(rec),
    }


def _task_options(rec: dict) -> str:
    """The record's task options (`config.task.<task>`) as canonical JSON ("" if not stated)."""
    config = rec.get("config")
    tasks = config.get("task") if isinstance(config, dict) else None
    options = tasks.get(rec["task"]) if isinstance(tasks, dict) else None
    return json.dumps(options, sort_keys=True) if options is not None else ""


def _text_language(rec: dict) -> str:
    """The language of the record's text encoder (`config.encoders.text.language`), "" if not stated."""
    config = rec.get("config")
    encoders = config.get("encoders") if isinstance(config, dict) else None
    text = encoders.get("text") if isinstance(encoders, dict) else None
    return str(text.get("language") or "") if isinstance(text, dict) else ""


def load_records(results_dir: Path) -> pd.DataFrame:
    """Every record under `results_dir` (recursively: `*.json` files and packed `*.jsonl.gz`
    files, `bench records pack`), one row each, sorted by key.

    Dict-valued fields (`metrics`, `ci`, `bootstrap`) stay dicts; nested header fields are
    flattened (`corpus_name`, `pretrain_wall_time_s`, `version`, …). Two records with the same
    (strategy, task, dataset, fraction, seed), e.g. from two grids (`<profile>-<config hash>`
    folders) under one results folder, are an error naming both files.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise VlpbenchError(f"{results_dir}: results directory not found")
    rows = [_load_one(p, read_record(p)) for p in sorted(results_dir.rglob("*.json"))]
    rows += [_load_one(where, rec) for p in sorted(results_dir.rglob(f"*{PACKED_SUFFIX}")) for where, rec in read_packed(p)]
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    dup = df[df.duplicated(KEY, keep=False)].sort_values(KEY + ["path"])
    if not dup.empty:
        a, b = dup.iloc[0], dup.iloc[1]
        raise VlpbenchError(
            f"{a['path']} and {b['path']}: two result records for the same {'/'.join(KEY)} (grids "
            f"{a['profile']}-{a['config_hash']} and {b['profile']}-{b['config_hash']}); "
            "point the results folder at one grid"
        )
    df["corpus_size"] = pd.to_numeric(df["corpus_size"])
    for col in ("corpus_mle", "pretrain_wall_time_s", "pretrain_peak_memory_mb", "wall_time_s", "peak_memory_mb"):
        df[col] = pd.to_numeric(df[col]).astype(float)
    return df.sort_values(KEY, kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------- ordering and labels


def _info(registry: Registry, name: str) -> PluginInfo:
    """A plugin's metadata; a name no installed plugin registers (an old record) gets defaults."""
    return registry.infos().get(name) or PluginInfo(order=10**6)


def _strategy_key(name: str) -> tuple[int, str]:
    return (_info(STRATEGIES, name).order, name)


def _task_title(task: str) -> str:
    return _info(TASKS, task).title or task


def _ablation_families() -> list[str]:
    """Strategies whose metadata defines an ablation table, in display order."""
    return [name for name in STRATEGIES.display_order() if STRATEGIES.info(name).ablation_title]


def _ablation_components(family: str, strategies: list[str]) -> dict[str, list[str]]:
    """Rows of `family`'s ablation among `strategies` → the components each has ("SA", "BE"), from their tags."""
    rows = [s for s in STRATEGIES.tagged(f"{ABLATION_TAG}:{family}") if s in strategies]
    prefix = f"{ABLATION_TAG}:{family}:"
    return {s: [tag[len(prefix):] for tag in _info(STRATEGIES, s).tags if tag.startswith(prefix)] for s in rows}


def _metric_key(metric: str) -> tuple:
    """auc, map, dsc, iou first; per-lesion metrics (`dsc/hemorrhage`) grouped by lesion, mean last."""
    base, _, sub = metric.partition("/")
    rank = METRIC_ORDER.index(base) if base in METRIC_ORDER else len(METRIC_ORDER)
    return (sub == "", sub, rank, base)


def _metric_label(metric: str) -> str:
    base, _, sub = metric.partition("/")
    return " ".join([METRIC_NAMES.get(base, base)] + ([sub] if sub else []))


def _column_label(col: Column, show_fraction: bool) -> str:
    parts = [col.dataset] + ([f"{col.fraction * 100:g}%"] if show_fraction else [])
    return " ".join(parts + [_metric_label(col.metric)])


def _metric_names(t: pd.DataFrame) -> list[str]:
    """The metrics of a task's records, in table order."""
    return sorted({m for ms in t["metrics"] for m in ms}, key=_metric_key)


def _num(x: float, fmt: str) -> str:
    return "–" if pd.isna(x) else format(x, fmt)


# ---------------------------------------------------------------- one table


def _long(t: pd.DataFrame) -> pd.DataFrame:
    """One row per (strategy, dataset, fraction, seed, metric) of the `ok` records."""
    ok = t[t["status"] == "ok"]
    rows = [
        (r.strategy, r.dataset, r.fraction, r.seed, m, v)
        for r in ok.itertuples(index=False)
        for m, v in r.metrics.items()
    ]
    return pd.DataFrame(rows, columns=["strategy", "dataset", "fraction", "seed", "metric", "value"])


def _columns(long: pd.DataFrame) -> list[Column]:
    """Datasets × fractions × metrics (sorted), then Avg per fraction × metric found in ≥ 2 datasets."""
    keys = long[["dataset", "fraction", "metric"]].drop_duplicates()
    cols = sorted((Column(*k) for k in keys.itertuples(index=False)),
                  key=lambda c: (c.dataset, c.fraction, _metric_key(c.metric)))
    n_ds = keys.groupby(["fraction", "metric"])["dataset"].nunique()
    avg = sorted((Column(AVG, f, m) for (f, m), n in n_ds.items() if n >= 2),
                 key=lambda c: (c.fraction, _metric_key(c.metric)))
    return cols + avg


def _averaged(cols: list[Column], avg: Column) -> list[str]:
    """The datasets an Avg column averages: every dataset with the same fraction and metric."""
    return [c.dataset for c in cols if c.dataset != AVG and (c.fraction, c.metric) == (avg.fraction, avg.metric)]


def _seed_values(long: pd.DataFrame, cols: list[Column]) -> dict[tuple[str, Column], np.ndarray]:
    """Per (strategy, column): values on the task's common seed axis (NaN = no record for that seed).

    Avg = per-seed mean over every dataset of the column's fraction and metric; a seed missing
    any dataset has no Avg.
    """
    if long.empty:
        return {}
    wide = long.set_index(["strategy", "dataset", "fraction", "metric", "seed"])["value"].unstack("seed")
    out = {(s, Column(d, f, m)): row for (s, d, f, m), row in zip(wide.index, wide.to_numpy())}
    strategies = sorted(long["strategy"].unique())
    for col in (c for c in cols if c.dataset == AVG):
        datasets = _averaged(cols, col)
        for s in strategies:
            rows = [out.get((s, Column(d, col.fraction, col.metric))) for d in datasets]
            if all(r is not None for r in rows) and not np.isnan(avg := np.mean(rows, axis=0)).all():
                out[(s, col)] = avg
    return out


def _replicates(t: pd.DataFrame, cols: list[Column]) -> tuple[dict, dict]:
    """Per (strategy, column): bootstrap replicates and the 95 % CI (Avg: dataset-averaged replicates)."""
    reps, cis = {}, {}
    for r in t[t["status"] == "ok"].itertuples(index=False):
        for m in r.metrics:
            key = (r.strategy, Column(r.dataset, r.fraction, m))
            if m in r.bootstrap:
                reps[key] = np.asarray(r.bootstrap[m], dtype=float)
            cis[key] = tuple(r.ci[m]) if m in r.ci else bootstrap_ci(reps.get(key, []))
    for col in (c for c in cols if c.dataset == AVG):
        datasets = _averaged(cols, col)
        for s in sorted({k[0] for k in reps}):
            arrays = [reps.get((s, Column(d, col.fraction, col.metric))) for d in datasets]
            if all(a is not None for a in arrays) and len({a.shape for a in arrays}) == 1:
                reps[(s, col)] = np.mean(arrays, axis=0)
                cis[(s, col)] = bootstrap_ci(reps[(s, col)])
    return reps, cis


def _ttest_pvalues(pairs: list[tuple[np.ndarray, np.ndarray]]) -> list[float]:
    """Paired t-tests on the seeds both rows have; one scipy call per pattern of common seeds."""
    out = np.full(len(pairs), np.nan)
    groups: dict[bytes, tuple[np.ndarray, list[int]]] = {}
    for i, (a, b) in enumerate(pairs):
        mask = ~np.isnan(a) & ~np.isnan(b)
        groups.setdefault(mask.tobytes(), (mask, []))[1].append(i)
    for mask, idx in groups.values():
        out[idx] = paired_ttests(np.stack([pairs[i][0][mask] for i in idx]), np.stack([pairs[i][1][mask] for i in idx]))
    return out.tolist()


def _cells(t: pd.DataFrame, strategies: list[str], correction: str, ranked: bool = True,
           pairwise: tuple[Column, pd.DataFrame] | None = None) -> tuple[list[Column], pd.DataFrame, bool]:
    """Statistics of every (strategy, column) cell, the best row per column and the significance
    tests (`ranked`; without it only mean and std: a descriptive table). `pairwise`: the primary
    Avg column and the table's pairwise tests over runs, whose Holm family that column's marks use
    (so a mark and the pairwise list never disagree)."""
    long = _long(t)
    cols = _columns(long)
    values = _seed_values(long, cols)
    single_run = bool(t.groupby(["strategy", "dataset", "fraction"])["seed"].nunique().max() == 1) \
        and any(bool(b) for b in t["bootstrap"])
    reps, cis = _replicates(t, cols) if single_run else ({}, {})
    na = t[t["status"] == "n/a"]
    na_keys = set(zip(na["strategy"], na["dataset"], na["fraction"]))
    cells, tests, bests = {}, [], {}  # tests: (column, a, b) for every pair of a column's rows
    floors = [s for s in strategies if s in STRATEGIES.tagged(FLOOR_TAG)]
    flaggable = [s for s in strategies if REFERENCE_TAG not in _info(STRATEGIES, s).tags]
    for col in cols:
        na_strats = {s for s, d, f in na_keys if f == col.fraction and col.dataset in (AVG, d)}
        for s in strategies:
            v = values.get((s, col), np.empty(0))
            v = v[~np.isnan(v)]
            lo, hi = cis.get((s, col), (np.nan, np.nan))
            status = "ok" if len(v) else ("n/a" if s in na_strats else "missing")
            cells[(s, col)] = dict(
                strategy=s, dataset=col.dataset, fraction=col.fraction, metric=col.metric, status=status,
                n=len(v), mean=v.mean() if len(v) else np.nan, std=v.std(ddof=1) if len(v) >= 2 else np.nan,
                lo=lo, hi=hi, best=False, p=np.nan, p_adj=np.nan, significant=False, below_floor=False)
        present = [s for s in strategies if cells[(s, col)]["n"]] if ranked else []
        if present:
            best = max(present, key=lambda s: cells[(s, col)]["mean"])  # ties: first in row order
            shown = format(cells[(best, col)]["mean"], ".2f")
            for s in present:
                cells[(s, col)]["best"] = format(cells[(s, col)]["mean"], ".2f") == shown
            bests[col] = best
            tests += [(col, a, b) for a, b in itertools.combinations(present, 2)]
            for floor in (f for f in floors if f in present):
                for s in (s for s in flaggable if s in present):
                    cells[(s, col)]["below_floor"] |= bool(cells[(s, col)]["mean"] < cells[(floor, col)]["mean"])
    if single_run:
        pvalues = [paired_bootstrap_p(reps[(b, c)], reps[(s, c)])
                   if (b, c) in reps and (s, c) in reps and reps[(b, c)].shape == reps[(s, c)].shape else np.nan
                   for c, b, s in tests]
    else:
        pvalues = _ttest_pvalues([(values[(b, c)], values[(s, c)]) for c, b, s in tests])
    by_column: dict[Column, list[tuple[str, str, float]]] = {}
    for (c, a, b), p in zip(tests, pvalues):
        by_column.setdefault(c, []).append((a, b, p))
    for c, rows in by_column.items():
        raw = [p for _, _, p in rows]
        best = bests[c]
        for (a, b, p), p_adj in zip(rows, holm(raw) if correction == "holm" else raw):
            if best not in (a, b):
                continue
            s = b if a == best else a
            if pairwise is not None and c == pairwise[0] and (pair := pair_row(pairwise[1], best, s)) is not None:
                p, p_adj = pair["p"], pair["p_holm"] if correction == "holm" else pair["p"]
            cell = cells[(s, c)]
            cell.update(p=p, p_adj=p_adj, significant=bool(p_adj < ALPHA and cell["mean"] < cells[(best, c)]["mean"]))
    return cols, pd.DataFrame([cells[(s, c)] for c in cols for s in strategies]), single_run


def _cell_text(c: dict, single_run: bool) -> str:
    if c["status"] != "ok":
        return "n/a" if c["status"] == "n/a" else "–"
    if single_run:
        text = f"{c['mean']:.2f}" + ("" if pd.isna(c["lo"]) else f" [{c['lo']:.2f}, {c['hi']:.2f}]")
    else:
        text = f"{c['mean']:.2f} ({_num(c['std'], '.2f')})"
    text += FLOOR_MARK if c["below_floor"] else ""
    if c["best"]:
        return f"**{text}**"
    return text + (MARK if c["significant"] else "")


def _checkpoints(t: pd.DataFrame) -> pd.DataFrame:
    """One row per pretrained checkpoint (by `checkpoint_hash`, else strategy + config hash)."""
    ckpt = t["checkpoint_hash"].where(t["checkpoint_hash"] != "", t["strategy"] + ":" + t["config_hash"])
    return t.assign(ckpt=ckpt).drop_duplicates("ckpt")


def _costs(t: pd.DataFrame) -> pd.DataFrame:
    """Per strategy: pretraining wall time (sum over its distinct checkpoints) and peak memory (max)."""
    g = _checkpoints(t).groupby("strategy")
    return pd.DataFrame({"pretrain_wall_time_s": g["pretrain_wall_time_s"].sum(min_count=1),
                         "pretrain_peak_memory_mb": g["pretrain_peak_memory_mb"].max()})


def _table(t: pd.DataFrame, strategies: list[str], expected_seeds: int, correction: str,
           ablation: dict[str, list[str]] | None = None, ranked: bool = True,
           pairwise: tuple[Column, pd.DataFrame] | None = None) -> tuple[str, pd.DataFrame, bool]:
    """Markdown table (GitHub) and the long CSV frame for the given rows of one task.

    `ablation` (row → its components) adds the check-mark columns of ViLReF Tables IV–V / M-FLAG Table 4.
    """
    components = list(dict.fromkeys(c for parts in (ablation or {}).values() for c in parts))
    t = t[t["strategy"].isin(strategies)]
    cols, cells, single_run = _cells(t, strategies, correction, ranked, pairwise)
    show_fraction = set(t["fraction"]) != {1.0}
    seeds = t.groupby(["strategy", "dataset", "fraction"])["seed"].nunique().groupby("strategy").min()
    costs = _costs(t)
    by_cell = {(r["strategy"], Column(r["dataset"], r["fraction"], r["metric"])): r for r in cells.to_dict("records")}
    headers = ["Strategy", *components, *(_column_label(c, show_fraction) for c in cols),
               "Pretrain (s)", "Peak mem (MB)"]
    body, labels = [], {}
    for s in strategies:
        labels[s] = s if seeds[s] >= expected_seeds else f"{s} ({seeds[s]}/{expected_seeds} seeds)"
        body.append([
            labels[s], *("✓" if c in (ablation or {}).get(s, ()) else "" for c in components), *(_cell_text(by_cell[(s, c)], single_run) for c in cols),
            _num(costs.at[s, "pretrain_wall_time_s"], ".1f"), _num(costs.at[s, "pretrain_peak_memory_mb"], ".0f"),
        ])
    markdown = tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)
    cells.insert(1, "label", cells["strategy"].map(labels))
    cells = cells.join(costs, on="strategy")
    return markdown, cells, single_run


# ---------------------------------------------------------------- files


def _distinct(t: pd.DataFrame, col: str) -> str:
    vals = sorted({str(v) for v in t[col].unique() if v != "" and not pd.isna(v)})
    return ", ".join(vals) if vals else "–"


def _wall_time(t: pd.DataFrame, run_logs: list[dict]) -> list[str]:
    """The run-log line: wall time of the `bench run` calls that computed this table's grid(s)."""
    grids = {f"{p}-{h}" for p, h in t[["profile", "config_hash"]].drop_duplicates().itertuples(index=False)}
    runs = [r for r in run_logs if r.get("grid") in grids]
    if not runs:
        return []
    setups = sorted({f"workers {r.get('workers', 1)} on {r.get('cpus', '?')} CPUs" for r in runs})
    return [f"- grid wall time: {sum(float(r['wall_time_s']) for r in runs):.0f} s over {len(runs)} `bench run` call(s) "
            f"computing {sum(int(r['records']) for r in runs)} record(s) of every task in the grid ({'; '.join(setups)})"]


def _header(t: pd.DataFrame, run_logs: list[dict]) -> list[str]:
    """Provenance lines stated above a table; date = the newest record's `created` date."""
    corpora = t.drop_duplicates(["corpus_name", "corpus_size", "corpus_mle"])
    corpus = sorted(
        f"{r.corpus_name or '–'} ({_num(r.corpus_size, '.0f')} pairs, mLE {_num(r.corpus_mle, 'g')})"
        for r in corpora.itertuples(index=False)
    )
    encoders = sorted(f"image {image or '–'}; text {text or '–'}"
                      for image, text in t[["encoder_image", "encoder_text"]].drop_duplicates().itertuples(index=False))
    ck = _checkpoints(t)
    pretrain = ck["pretrain_wall_time_s"].sum()
    evaluation = t["wall_time_s"].sum()
    created = max((c for c in t["created"] if c), default="")
    return [
        f"- profile: {_distinct(t, 'profile')}",
        f"- corpus: {', '.join(corpus)}",
        f"- encoders: {' | '.join(encoders)}",
        f"- config hash: {_distinct(t, 'config_hash')}",
        f"- code: vlpbench {_distinct(t, 'version')}, git {_distinct(t, 'git_commit')}",
        f"- date: {created[:10] or '–'}",
        f"- compute: {pretrain + evaluation:.1f} s in total ({pretrain:.1f} s pretraining "
        f"{len(ck)} checkpoint(s), {evaluation:.1f} s evaluating {len(t)} record(s))",
        *_wall_time(t, run_logs),
    ]


def _legend(single_run: bool, correction: str, primary: str = "") -> str:
    """Legend of a ranked table; `primary`: the Avg column whose marks come from the pairwise tests."""
    corrected = (", Holm-corrected over every pair of rows of the column, so that picking the best row does not "
                 "inflate the error rate" if correction == "holm" else ", not corrected for multiple comparisons")
    if single_run:
        cells = ("Cells: point estimate [95 % percentile bootstrap CI] of one deterministic run, in %. "
                 "Avg: mean over datasets, CI from the dataset-averaged replicates.")
        test = "paired bootstrap test over the same resamples"
    else:
        cells = ("Cells: mean (sample std) over seeds, in %. "
                 "Avg: mean over datasets per seed, then mean (std) over seeds.")
        test = "paired t-test across pretraining runs matched by seed"
    best = "value" if single_run else "mean"
    return (f"{cells} **Bold**: best {best} in the column. {MARK}: the best row is significantly better than this row"
            f" ({test}, p < {ALPHA}{corrected}"
            + (f"; in the {primary} column, the pair's p from the pairwise tests below, so the mark and the pairwise "
               "list agree" if primary and correction == "holm" else "")
            + "). `(k/K seeds)`: incomplete row, averaged "
            "over the seeds that exist. n/a: task not applicable to the strategy; –: no record. "
            f"{FLOOR_MARK}: below the `random-init` reference row (the untrained encoders) in this column. "
            "Reference rows: `random-init` (floor) and `supervised` (the image encoder trained on the corpus labels with BCE). "
            "Pretrain (s) / Peak mem (MB): pretraining wall time and peak memory of the strategy's checkpoint(s), summed over its pretraining runs.")


def _descriptive_legend(task: str) -> str:
    """Legend of a descriptive table: what each metric means, no ranking."""
    notes = " ".join(f"{metric}: {note}." for metric, note in _info(TASKS, task).metric_notes.items())
    return ("Cells: mean (sample std) over seeds (each its own pretraining run). A description, not a ranking: "
            f"no bold, no tests. {notes} –: the metric does not apply to the strategy (e.g. no text tower) or no record. "
            "Pretrain (s) / Peak mem (MB): as in the other tables.")


def _warnings(t: pd.DataFrame) -> list[str]:
    w = t[["dataset", "warnings"]].explode("warnings").dropna()
    if w.empty:
        return []
    counts = w.groupby(["dataset", "warnings"]).size().sort_index()
    return ["", "Warnings:", ""] + [f"- {d}: {msg} ({n} record(s))" for (d, msg), n in counts.items()]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


def _with_task(cells: pd.DataFrame, task: str) -> pd.DataFrame:
    return pd.concat([pd.Series(task, index=cells.index, name="task"), cells], axis=1)


def _write_csv(path: Path, frame: pd.DataFrame) -> Path:
    return _write(path, frame.to_csv(index=False, float_format="%.10g", lineterminator="\n"))


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
    paths.append(_write_csv(out_dir / f"{task}-statistics.csv", per_strategy))
    paths.append(_write_csv(out_dir / f"{task}-pairwise.csv", pairwise))
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
    task_tables: dict[str, tuple[pd.DataFrame, list[str], int]] = {}
    external, df = everything_loaded[is_external(everything_loaded)], everything_loaded[~is_external(everything_loaded)]
    for task in sorted(set(external["task"]) - set(df["task"])):  # tasks only released models ran
        t = external[(external["task"] == task) & ~external["replicate"]]
        lines = [f"# {_task_title(task)} (`{task}`)", "", *external_section(t, _metric_names(t))]
        written.append(_write(out_dir / f"{task}.md", "\n".join(lines) + "\n"))
    foundation = None
    if (tables := vilref_tables(everything_loaded, _strategy_key)) is not None:
        foundation = _write(out_dir / "foundation-models.md", tables)
        written.append(foundation)
    if df.empty:
        return written
    for task, everything in df.groupby("task", sort=True):
        t, replicates = everything[~everything["replicate"]], everything[everything["replicate"]]
        ext = external[(external["task"] == task) & ~external["replicate"]]
        strategies = sorted(set(t["strategy"]), key=_strategy_key)
        expected = int(t.groupby(["strategy", "dataset", "fraction"])["seed"].nunique().max())
        title = f"# {_task_title(task)} (`{task}`)"
        if DESCRIPTIVE_TAG in _info(TASKS, task).tags:
            markdown, cells, _ = _table(t, strategies, expected, correction, ranked=False)
            figure = []
            if has_pca(t):
                written += figures.draw(pca_figure, pca_panels(t, strategies), f"{task}: first 3 principal components of the "
                                        "image features (first pretraining run)", out_dir / "figures" / f"pca-{task}")
                figure = ["", f"![PCA of the image features](figures/pca-{task}.svg)"]
            text = "\n".join([title, "", *_header(t, run_logs), "", markdown, "", _descriptive_legend(task), *figure,
                              *_warnings(t)])
            written.append(_write(out_dir / f"{task}.md", text + "\n"))
            written.append(_write_csv(out_dir / f"{task}.csv", _with_task(cells, task)))
            continue
        metric = next((m for m in METRIC_ORDER if any(m in r for r in t["metrics"])), "auc")
        tags = {s: _info(STRATEGIES, s).tags for s in strategies}
        planted = planted_rows(strategies, tags)
        strategies = [s for s in strategies if s not in planted]  # the real strategies: ranked, tested
        statistics, paths, ts = _statistics(t, replicates, task, strategies, metric, baseline, margin, out_dir, figures)
        markdown, cells, single_run = _table(t, strategies, expected, correction, pairwise=(Column(AVG, 1.0, metric), ts.pairwise))
        ladder_lines, ladder_cells, result = _ladder_section(t, planted, tags, metric, expected, correction)
        detect = detection_line(task, metric, result, ts.components)
        detections.append(detect)
        cells = pd.concat([cells, ladder_cells], ignore_index=True) if ladder_cells is not None else cells
        written += paths
        header = [*_header(t, run_logs), covered_variance(t)]
        legend = _legend(single_run, correction, "" if single_run else f"{AVG} {metric_name(metric)}")
        variance = [*component_lines(ts.components, metric_name(metric), len(ts.pairwise)),
                    *variance_lines(t, replicates, metric, strategies)]
        warning_lines = _warnings(t)
        if ts.components is not None:
            fitted.append(component_row(task, metric, ts.components, len(ts.pairwise)))
        references = external_section(ext, _metric_names(t)) if not ext.empty else []
        text = "\n".join([title, "", *header, "", markdown, "", detect, "", legend, *ladder_lines, *variance, *statistics,
                          *warning_lines, *references])
        written.append(_write(out_dir / f"{task}.md", text + "\n"))
        written.append(_write_csv(out_dir / f"{task}.csv", _with_task(cells, task)))
        if html is not None:
            # the statistics table becomes columns of the site's main table
            footer = [detect, *ladder_lines, *variance, *(line for line in statistics if not line.startswith("|")), *warning_lines]
            pages.append(_task_page(task, t, strategies, header, legend, cells, single_run, ts, footer, paths, out_dir))
            pages[-1].references = external_tables(ext, _metric_names(t)) if not ext.empty else []
        task_tables[task] = (t, strategies, expected)
    for family in _ablation_families():
        sections = []
        for task in _info(STRATEGIES, family).ablation_tasks:
            if task not in task_tables:
                continue
            t, strategies, expected = task_tables[task]
            components = _ablation_components(family, strategies)
            rows, widest = list(components), max((len(c) for c in components.values()), default=0)
            if not any(0 < len(c) < widest for c in components.values()):
                continue
            markdown, cells, single_run = _table(t, rows, expected, correction, ablation=components)
            sections += [f"## {_task_title(task)} (`{task}`)", "", *_header(t[t["strategy"].isin(rows)], run_logs),
                         "", markdown, "", _legend(single_run, correction), ""]
            ablation_csv.append(_with_task(cells, task).assign(ablation=family))
        if sections:
            ablation_md += [f"# {_info(STRATEGIES, family).ablation_title}", "", *sections]
    if ablation_md:
        written.append(_write(out_dir / "ablation.md", "\n".join(ablation_md).rstrip("\n") + "\n"))
        written.append(_write_csv(out_dir / "ablation.csv", pd.concat(ablation_csv, ignore_index=True)))
    if fitted:
        written.append(_write_csv(out_dir / "variance-components.csv", pd.DataFrame(fitted)))
    records = df[~df["replicate"]]
    prompts = prompt_frames(records)
    prompt_paths = prompt_sensitivity(records, out_dir, prompts)
    written += prompt_paths
    figures.wait()  # every figure is on disk before the site copies them
    if html is not None:
        if prompts is not None:
            prompts.download = next((p for p in prompt_paths if p.suffix == ".csv"), None)
        site = Site(header=_header(records, run_logs), tasks=pages, costs=_costs(records), detect=[f"- {d}" for d in detections],
                    order=sorted(set(records["strategy"]), key=_strategy_key), baseline=baseline, margin=margin,
                    prompts=prompts, downloads=[p for p in written if p.name == "ablation.csv"],
                    images=sorted(path for pattern in ("tsne-*.png", "gradcam-*.png") for path in (out_dir / "figures").glob(pattern)), foundation=foundation)
        written += write_site(Path(html), site)
    return written


def _ladder_section(t: pd.DataFrame, planted: list[str], tags: dict[str, tuple[str, ...]], metric: str, expected: int,
                    correction: str) -> tuple[list[str], pd.DataFrame | None, LadderResult | None]:
    """The planted block of a table (its reference row and rungs, in their own table, never ranked
    with the real strategies), its cells for the CSV (rungs only) and the ladder's result."""
    ladder = find_ladder(planted, tags)
    if ladder is None:
        return [], None, None
    rows = [s for s in ladder.rows if s in set(t["strategy"])]
    markdown, cells, _ = _table(t, rows, expected, correction)
    result = ladder_result(t, metric, ladder)
    truth = " > ".join(f"`{s}`" for s in ladder.rows)
    lines = ["", f"Planted ladder (known order by construction: {truth}; rows tagged `planted`, left out of the ranks "
                 "and tests above; † here compares the ladder's rows only):", "", markdown]
    return lines, cells[cells["strategy"].isin(planted)], result


def _task_page(task: str, t: pd.DataFrame, strategies: list[str], header: list[str], legend: str, cells: pd.DataFrame,
               single_run: bool, ts: TaskStatistics, footer: list[str], paths: list[Path], out_dir: Path) -> TaskPage:
    """What the site shows of one task, from what the markdown build computed."""
    show_fraction = set(t["fraction"]) != {1.0}
    keys = list(dict.fromkeys(zip(cells["dataset"], cells["fraction"], cells["metric"])))
    columns = [SiteColumn(d, f, m, _column_label(Column(d, f, m), show_fraction)) for d, f, m in keys]
    labels = dict(zip(cells["strategy"], cells["label"]))
    downloads = [out_dir / f"{task}{suffix}.csv" for suffix in ("", "-statistics", "-pairwise")]
    return TaskPage(task=task, title=_task_title(task), header=header, legend=legend, cells=cells, columns=columns,
                    strategies=strategies, labels=labels, single_run=single_run, statistics=ts, footer=footer,
                    figures=[p for p in paths if p.suffix == ".svg"], downloads=downloads)


def prompt_frames(df: pd.DataFrame) -> PromptPage | None:
    """Zero-shot macro AUC per (strategy, seed, dataset, protocol) of the records that carry
    `extra.protocols`, the strategy × protocol means over datasets and runs, and the spread across
    protocols; None without such records."""
    ok = df[df["status"] == "ok"]
    rows = [(r.strategy, r.seed, r.dataset, protocol, values.get("auc"))
            for r in ok.itertuples(index=False)
            for protocol, values in (r.extra.get("protocols") or {}).items()]
    if not rows:
        return None
    long = pd.DataFrame(rows, columns=["strategy", "seed", "dataset", "protocol", "auc"])
    per_run = long.groupby(["strategy", "protocol", "seed"])["auc"].mean().reset_index()
    wide = per_run.groupby(["strategy", "protocol"])["auc"].mean().unstack("protocol")
    wide = wide.reindex(sorted(wide.index, key=_strategy_key))
    carrying = ok[[bool(e.get("protocols")) for e in ok["extra"]]]
    languages = sorted({lang or "zh" for lang in carrying["text_language"]})  # ood-zsc's default language is zh
    return PromptPage(long=long, wide=wide, spread=wide.max(axis=1) - wide.min(axis=1), languages=languages)


def prompt_sensitivity(df: pd.DataFrame, out_dir: Path, frames: PromptPage | None = None) -> list[Path]:
    """`prompt-sensitivity.md` + `.csv`: each strategy's zero-shot macro AUC (mean over datasets
    and runs) under every prompt protocol its records carry, and the spread across protocols.
    `frames`: `prompt_frames(df)` when the caller has them already."""
    frames = frames if frames is not None else prompt_frames(df)
    if frames is None:
        return []
    long, wide, spread = frames.long, frames.wide, frames.spread
    per_run = long.groupby(["strategy", "protocol", "seed"])["auc"].mean().reset_index()
    table = per_run.groupby(["strategy", "protocol"])["auc"].agg(["mean", "std"]).reset_index()
    body = [[s, *(_num(wide.at[s, p], ".2f") for p in wide.columns), _num(spread[s], ".2f")] for s in wide.index]
    markdown = tabulate(body, headers=["Strategy", *wide.columns, "spread"], tablefmt="github", disable_numparse=True)
    datasets = ", ".join(sorted(long["dataset"].unique()))
    text = "\n".join([
        "# Prompt sensitivity of zero-shot classification", "",
        f"Macro AUC (%) averaged over {datasets} and over pretraining runs, per prompt protocol "
        "(`term`: the class term; `template-ensemble`: report-style sentence templates averaged; "
        "`knowledge`: every surface form the knowledge base lists for the class, averaged). "
        "spread = best − worst protocol. The leaderboard uses the protocol its records name (default `term`).", "",
        markdown,
    ])
    out = [_write(out_dir / "prompt-sensitivity.md", text + "\n")]
    table["spread"] = table["strategy"].map(spread)
    out.append(_write_csv(out_dir / "prompt-sensitivity.csv", table))
    return out
