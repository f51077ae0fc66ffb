"""Terminal output at 80 columns (issue 26): `bench run`, `bench leaderboard` and `bench status`
print every dataset, strategy, metric and unit name whole, say constant columns once in the
title, give one row per dataset with mean ± SD and an Avg row, and show per-seed columns only
with --per-seed or when the terminal is wide enough."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.cells import cell_len
from rich.console import Console

from test_leaderboard import write_lp_grid, write_record
from vlpbench.app.cli import main
from vlpbench.core.registry import TASKS
from vlpbench.core.tables import TextTable, blocks, fit
from vlpbench.report.leaderboard_summary import leaderboard_tables
from vlpbench.report.summary import summary_tables

REPO = Path(__file__).resolve().parents[1]


def body_rows(out: str) -> list[list[str]]:
    """The cells of every table body row (`│ a │ b │`) of printed output."""
    return [[cell.strip() for cell in line.strip().strip("│").split("│")] for line in out.splitlines() if line.startswith("│")]


def header_cells(out: str) -> list[str]:
    return [cell.strip() for line in out.splitlines() if line.startswith("┃") for cell in line.strip().strip("┃").split("┃")]


def assert_fits(out: str, width: int) -> None:
    """Nothing was cut (rich marks a cut with …) and no line is wider than the terminal."""
    assert "…" not in out
    assert max(cell_len(line) for line in out.splitlines()) <= width


def render(tables, width: int) -> str:
    console = Console(width=width, markup=False, highlight=False, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    for table in tables:
        console.print(table)
    return console.export_text()


# ---------------------------------------------------------------- bench run


@pytest.fixture(scope="module")
def main_job(tmp_path_factory) -> tuple[list[str], Path]:
    """The main job's shape on the smoke profile: wsc, ood-zsc, five seeds (pretrained once here;
    every later call finds the checkpoints and records cached)."""
    root = tmp_path_factory.mktemp("main-job")
    argv = ["run", "--strategy", "wsc", "--task", "ood-zsc", "--profile", "smoke", "--seeds", "5",
            "--runs", str(root / "runs"), "--results", str(root / "results"), "--set", "threads=1"]
    assert main(argv) == 0
    return argv, root / "results"


def bench_run(argv: list[str], columns: int, capsys, monkeypatch, *extra: str) -> str:
    monkeypatch.setenv("COLUMNS", str(columns))
    capsys.readouterr()
    assert main([*argv, *extra]) == 0
    return capsys.readouterr().out


def test_bench_run_at_80_columns_prints_every_dataset_whole(main_job, capsys, monkeypatch):
    argv, results = main_job
    out = bench_run(argv, 80, capsys, monkeypatch)  # cached checkpoints and records: only the summary is new
    assert_fits(out, 80)
    datasets = list(TASKS.infos()["ood-zsc"].default_datasets)
    rows = body_rows(out)
    assert [row[0] for row in rows] == [*sorted(datasets), "Avg"]  # one row per dataset, then Avg
    assert header_cells(out) == ["dataset", "AUC", "mAP"]  # strategy and fraction are constant: not columns
    assert "ood-zsc · strategy wsc · fraction 1 · seeds 0–4 · metrics in %" in out
    # the cells are mean ± SD over seeds of the records; Avg: per-seed mean over datasets, then mean ± SD
    records = pd.DataFrame([json.loads(p.read_text()) for p in results.rglob("ood-zsc/**/*.json")])
    auc = records.assign(auc=[m["auc"] for m in records["metrics"]]).pivot(index="seed", columns="dataset", values="auc")
    first = auc[sorted(datasets)[0]]
    assert rows[0][1] == f"{first.mean():.2f} ± {first.std(ddof=1):.2f}"
    average = auc.mean(axis=1)
    assert rows[-1][1] == f"{average.mean():.2f} ± {average.std(ddof=1):.2f}"


def test_per_seed_columns_come_with_the_flag_or_a_wide_terminal(main_job, capsys, monkeypatch):
    argv, _ = main_job
    seeds = [f"AUC s{k}" for k in range(5)]
    wide = bench_run(argv, 200, capsys, monkeypatch)
    assert header_cells(wide) == ["dataset", *seeds, "AUC", *(f"mAP s{k}" for k in range(5)), "mAP"]
    assert "part" not in wide and "sK: seed K" in wide
    # five seeds × two metrics need 128 columns: 120 gets the mean ± SD table
    assert not set(seeds) & set(header_cells(bench_run(argv, 120, capsys, monkeypatch)))
    flagged = bench_run(argv, 80, capsys, monkeypatch, "--per-seed")
    assert_fits(flagged, 80)
    assert "(part 1/2)" in flagged and "(part 2/2)" in flagged  # each metric's seeds in a table of their own
    assert header_cells(flagged) == ["dataset", *seeds, "AUC", "dataset", *(f"mAP s{k}" for k in range(5)), "mAP"]


def _records(strategies: list[str], datasets: list[str], seeds: int = 5) -> list[dict]:
    rng = np.random.default_rng(0)
    return [{"task": "linear-probe", "dataset": d, "strategy": s, "fraction": 1.0, "seed": k,
             "status": "n/a" if s == "mae-no-text" else "ok",
             "metrics": {} if s == "mae-no-text" else {"auc": 70 + rng.random(), "map": 40 + rng.random(), "auc/odir": 1.0}}
            for s in strategies for d in datasets for k in range(seeds)]


def test_several_strategies_keep_their_names_whole_at_80_columns():
    strategies = ["clip-resnet", "mae-no-text", "mflag-align", "random-init"]
    datasets = ["syn-fives", "syn-messidor", "syn-retinal-lesions"]
    out = render(summary_tables(_records(strategies, datasets), 80), 80)
    assert_fits(out, 80)
    rows = body_rows(out)
    assert [row[:2] for row in rows] == [[s, d] for s in strategies for d in [*datasets, *(["Avg"] if s != "mae-no-text" else [])]]
    assert rows[len(datasets) + 1][2:] == ["n/a", "n/a"]  # mae-no-text: n/a, and no Avg row
    assert header_cells(out) == ["strategy", "dataset", "AUC", "mAP"]  # per-lesion metrics are left to the leaderboard
    assert "linear-probe · fraction 1 · seeds 0–4" in out


def test_a_task_every_strategy_is_na_on_says_so():
    records = [r | {"task": "ood-zsc"} for r in _records(["mae-no-text"], ["syn-fives", "syn-odir"], seeds=2)]
    out = render(summary_tables(records, 80), 80)
    assert body_rows(out) == [["syn-fives", "n/a"], ["syn-odir", "n/a"]] and header_cells(out) == ["dataset", "result"]


# ---------------------------------------------------------------- bench leaderboard


def test_bench_leaderboard_prints_a_summary_per_task_at_80_columns(tmp_path, capsys, monkeypatch):
    write_lp_grid(tmp_path / "r")
    for seed in range(5):
        write_record(tmp_path / "r", "clip-resnet", "linear-probe", "syn-odir", seed, {"auc": 80.0 + seed, "map": 50.0})
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["leaderboard", "--results", str(tmp_path / "r"), "--out", str(tmp_path / "lb")]) == 0
    out = capsys.readouterr().out
    assert_fits(out, 80)
    assert "linear-probe · Avg over 2 datasets · fraction 1 · 5 seeds · metrics in %" in out
    rows = {row[0]: row[1:] for row in body_rows(out)}
    assert set(rows) == {"mae", "clip", "wsc", "clip-resnet"}
    csv = pd.read_csv(tmp_path / "lb" / "linear-probe.csv")
    wsc = csv[(csv["strategy"] == "wsc") & (csv["dataset"] == "Avg") & (csv["metric"] == "auc")].iloc[0]
    assert rows["wsc"][0] == f"{wsc['mean']:.2f} ± {wsc['std']:.2f}"  # the published Avg, read back
    assert rows["clip-resnet"] == ["–", "–"]  # one dataset of two: no Avg, as in the markdown
    assert f"wrote {tmp_path / 'lb' / 'linear-probe.md'}" in "".join(out.split("\n"))


@pytest.mark.parametrize("width", [80, 120])
def test_published_leaderboards_read_whole_at(width):
    paths = sorted((REPO / "leaderboards").glob("*.csv"))
    out = render(leaderboard_tables(paths, width), width)
    assert_fits(out, width)
    for path in paths:
        frame = pd.read_csv(path, keep_default_na=False)
        if {"task", "label", "dataset", "metric"} <= set(frame.columns) and frame["task"].nunique() == 1:
            assert f"{frame['task'].iloc[0]} · " in out
            assert set(frame["label"]) <= {row[0] for row in body_rows(out)}
    headers = header_cells(out)
    assert "erank_image_embedding" in headers and "uniformity_text" in headers  # long metric names whole too


# ---------------------------------------------------------------- bench status


def _unit(grid: Path, unit: str, state: str, cells: list[str], job_id: str = "", error: str = "") -> None:
    (grid / "jobs").mkdir(parents=True, exist_ok=True)
    info = {"unit": unit, "state": state, "cells": cells, "job_id": job_id, "error": error}
    (grid / "jobs" / f"{unit}.status").write_text(json.dumps(info), encoding="utf-8")


def test_bench_status_at_80_columns_keeps_unit_names_and_errors_whole(tmp_path, capsys, monkeypatch):
    grid = tmp_path / "r" / "paper-0e1fe1f1cd64"
    cells = [f"seg/syn-retinal-lesions/mflag-align/seed{k}_frac1.json" for k in range(3)]
    (grid / cells[0]).parent.mkdir(parents=True)
    (grid / cells[0]).write_text("{}")
    error = "VlpbenchError: cached checkpoint " + "/very/long/path/" * 6 + "model.safetensors is corrupt: SHA-256 mismatch"
    units = ["pretrain-mflag-align-seed0", "evaluate-mflag-align-seed0", "evaluate-clip-resnet-seed12"]
    _unit(grid, units[0], "done", [], "4211_0")
    _unit(grid, units[1], "failed", cells, "4212_0", error)
    _unit(grid, units[2], "queued", [])
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["status", "--results", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert_fits(out, 80)
    assert "paper-0e1fe1f1cd64: 1 done, 0 running, 2 failed, 0 missing" in out
    rows = {row[0]: row[1:] for row in body_rows(out)}
    assert rows == {units[0]: ["4211_0", "done", "–"], units[1]: ["4212_0", "failed", "1/3"], units[2]: ["", "queued", "–"]}
    assert "".join(f"{units[1]} (job 4212_0): {error}".split()) in "".join(out.split())  # wrapped at spaces, not cut


def test_bench_status_says_a_shared_state_once(tmp_path, capsys, monkeypatch):
    grid = tmp_path / "r" / "quick-0e1fe1f1cd64"
    for k in range(3):
        _unit(grid, f"evaluate-wsc-seed{k}", "done", [])
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["status", "--results", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "· every unit done · no job ids" in " ".join(out.split()) and header_cells(out) == ["unit", "cells done"]


# ---------------------------------------------------------------- the fitting


def test_text_table_width_is_the_rendered_width_and_blocks_keep_groups():
    table = TextTable("t", keys=["dataset"], values=["AUC s0", "AUC s1", "AUC", "mAP s0", "mAP s1", "mAP"],
                      groups=["AUC"] * 3 + ["mAP"] * 3)
    table.add_row(["syn-retinal-lesions", "1.00", "2.00", "1.50 ± 0.71", "3.00", "4.00", "3.50 ± 0.71"], rule=True)
    table.add_row(["Avg", "1.00", "2.00", "1.50 ± 0.71", "3.00", "4.00", "3.50 ± 0.71"])
    out = render(fit(table, 1000), 1000)
    assert max(cell_len(line) for line in out.splitlines()) == table.width()
    assert blocks(table, table.width()) == [[0, 1, 2, 3, 4, 5]]
    assert blocks(table, table.width() - 1) == [[0, 1, 2], [3, 4, 5]]  # a group is not split while it fits
    assert blocks(table, 45) == [[0, 1], [2], [3, 4], [5]]  # a group too wide for the line is
    for width in (45, 60, table.width() - 1):
        out = render(fit(table, width), width)
        assert_fits(out, width)
        assert sum("syn-retinal-lesions" in line for line in out.splitlines()) == len(blocks(table, width))
