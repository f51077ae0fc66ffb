"""Prompt sensitivity of zero-shot classification: each strategy's macro AUC under every prompt
protocol its records carry (`prompt-sensitivity.md` + `.csv`, and the site's page)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from tabulate import tabulate

from vlpbench.report.files import write_csv, write_text
from vlpbench.report.site import PromptPage
from vlpbench.report.table_model import num, strategy_key


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
    wide = wide.reindex(sorted(wide.index, key=strategy_key))
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
    body = [[s, *(num(wide.at[s, p], ".2f") for p in wide.columns), num(spread[s], ".2f")] for s in wide.index]
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
    out = [write_text(out_dir / "prompt-sensitivity.md", text + "\n")]
    table["spread"] = table["strategy"].map(spread)
    out.append(write_csv(out_dir / "prompt-sensitivity.csv", table))
    return out
