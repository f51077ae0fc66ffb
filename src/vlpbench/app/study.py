"""`bench study label-entropy`: ViLReF §IV-E-1 / Fig 4 — prompt-based OOD zero-shot
classification of strategies pretrained on corpora of the same size whose mean label entropy
(mLE, eq 14) is set to each target value.

Every (target, strategy) pair is an ordinary `run_grid` over task `ood-zsc` with
`corpus.target_mle` set, so checkpoints and records land in the run cache and the results
store and an interrupted study resumes. The table reports the targets; the figure plots the
realised corpus mLE (`record["corpus"]["mle"]`) on the x-axis.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from vlpbench._version import __version__
from vlpbench.core.config import RunConfig, grid_hash
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import STRATEGIES, TASKS
from vlpbench.encoders.towers import describe_encoders
from vlpbench.engine.grid import expand, run_grid


def zero_shot_task() -> str:
    """The task the study scores with: the one tagged "zero-shot" in its metadata."""
    tasks = TASKS.tagged("zero-shot")
    if not tasks:
        raise VlpbenchError("bench study label-entropy: no task is tagged 'zero-shot'")
    return tasks[0]
METRICS = {"auc": "AUC", "map": "mAP"}


def label_entropy_study(
    config: RunConfig, strategies: list[str], mle_values: list[float], out_dir: Path, datasets: list[str] | None = None,
) -> list[Path]:
    """Pretrain each text-aware strategy per target mLE, `eval.seeds` times (pretraining runs),
    score it on the zero-shot task's sets (`datasets`, default the task's), and write
    `label-entropy.md`, `.csv` and `.png` (mean ± SD over runs) under `out_dir`; returns their paths."""
    names = _text_strategies(strategies)
    if not mle_values or any(not 0 < m < 1 for m in mle_values):
        raise VlpbenchError(f"bench study label-entropy: --mle expects values in (0, 1), got {mle_values}")
    rows, hashes = [], {}
    for target in mle_values:
        study_config = dataclasses.replace(  # a results folder of its own, beside the main grid's
            config, corpus=dataclasses.replace(config.corpus, target_mle=target),
            results_dir=f"{config.results_dir.rstrip('/')}-label-entropy",
        )
        hashes[target] = grid_hash(study_config)
        for record in run_grid(study_config, names, [zero_shot_task()], datasets):
            if record["status"] == "ok":
                rows.append({"strategy": record["strategy"], "target_mle": target, "realised_mle": record["corpus"]["mle"],
                             "seed": record["seed"], "dataset": record["dataset"],
                             **{m: record["metrics"].get(m) for m in METRICS}})
    if not rows:
        raise VlpbenchError(f"bench study label-entropy: no '{zero_shot_task()}' record has status ok")
    long = pd.DataFrame(rows)
    per_run = (  # dataset-averaged per pretraining run, then mean and SD over runs (error bars)
        long.groupby(["strategy", "target_mle", "seed"], sort=False)
        .agg(realised_mle=("realised_mle", "first"), auc=("auc", "mean"), map=("map", "mean"), datasets=("dataset", "nunique"))
        .reset_index()
    )
    summary = (
        per_run.groupby(["strategy", "target_mle"], sort=False)
        .agg(realised_mle=("realised_mle", "first"), auc=("auc", "mean"), auc_sd=("auc", "std"), map=("map", "mean"),
             map_sd=("map", "std"), runs=("seed", "nunique"), datasets=("datasets", "max"))
        .reset_index()
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"label-entropy.{suffix}" for suffix in ("md", "csv", "png")]
    paths[0].write_text(_markdown(config, summary, sorted(long["dataset"].unique()), hashes), encoding="utf-8")
    summary.round(4).to_csv(paths[1], index=False)
    _plot(summary, paths[2])
    return paths


def _text_strategies(strategies: list[str]) -> list[str]:
    """The named strategies (["all"] = every registered one with a text tower)."""
    if strategies == ["all"]:
        return [name for name in STRATEGIES.names() if STRATEGIES.get(name).has_text_tower]
    for name in expand(strategies, STRATEGIES.names()):
        if not STRATEGIES.get(name).has_text_tower:
            raise VlpbenchError(f"bench study label-entropy: strategy '{name}' has no text tower; {zero_shot_task()} needs one")
    return strategies


def _markdown(config: RunConfig, summary: pd.DataFrame, datasets: list[str], hashes: dict[float, str]) -> str:
    """Rows = strategies, columns = target mLE × (AUC, mAP), each averaged over the datasets."""
    cells = summary.assign(**{m: [f"{v:.2f} ({s:.2f})" if pd.notna(s) else f"{v:.2f}" for v, s in zip(summary[m], summary[f"{m}_sd"])]
                              for m in METRICS})
    wide = cells.pivot(index="strategy", columns="target_mle", values=list(METRICS))
    wide = wide.reindex(index=list(dict.fromkeys(summary["strategy"])))
    targets = list(dict.fromkeys(summary["target_mle"]))
    table = pd.DataFrame(
        {f"mLE {t:g} {label}": wide[(metric, t)] for t in targets for metric, label in METRICS.items()}, index=wide.index
    )
    realised = summary.drop_duplicates("target_mle").set_index("target_mle")["realised_mle"]
    encoders = describe_encoders(config.encoders)
    lines = [
        "# Label-entropy study (ViLReF Fig 4)",
        "",
        f"Prompt-based OOD zero-shot classification (`{zero_shot_task()}`): macro AUC and mAP (%) averaged over "
        f"{', '.join(datasets)}, for strategies pretrained on corpora of {config.corpus.size} pairs whose mean "
        f"label entropy (eq 14) is set to the column's target; mean (SD) over {int(summary['runs'].max())} pretraining runs.",
        "",
        f"- realised corpus mLE: {', '.join(f'{t:g} → {realised[t]:.4f}' for t in targets)}",
        f"- profile `{config.profile}` · image {encoders['image']} · text {encoders['text']} · "
        f"{config.pretrain.steps} pretraining steps of batch {config.pretrain.batch_size} · vlpbench {__version__}",
        f"- result grids: {', '.join(f'{t:g}: `{h}`' for t, h in hashes.items())}",
        "",
        table.to_markdown(tablefmt="github"),
    ]
    return "\n".join(lines) + "\n"


def _plot(summary: pd.DataFrame, path: Path) -> None:
    """Two panels (AUC, mAP) against the realised mLE, one line per strategy."""
    import matplotlib  # noqa: PLC0415 — matplotlib is heavy and only needed when a figure is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 — matplotlib is heavy and only needed when a figure is drawn

    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, (metric, label) in zip(axes, METRICS.items()):
        for strategy, part in summary.groupby("strategy", sort=False):
            part = part.sort_values("realised_mle")
            axis.errorbar(part["realised_mle"], part[metric], yerr=part[f"{metric}_sd"], marker="o", capsize=3, label=strategy)
        axis.set_xlabel("corpus mean label entropy (mLE, eq 14)")
        axis.set_ylabel(f"{zero_shot_task()} {label} (%)")
        axis.set_title(f"{zero_shot_task()} {label}")
        axis.grid(alpha=0.3)
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
