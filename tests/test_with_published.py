"""A new strategy against the published grid in one command: the published records packed as they
ship (`bench records pack`), a strategy plugin registered from a temporary module, its own runs, and
`bench leaderboard --with-published` merging only what matches the published protocol."""

from __future__ import annotations

import gzip
import importlib.util
import sys

import pandas as pd
import pytest

from vlpbench.app.cli import main
from vlpbench.app.scaffold import new_strategy
from vlpbench.core.config import resolve_config
from vlpbench.core.registry import STRATEGIES
from vlpbench.engine.grid import run_grid
from vlpbench.report.leaderboard import build_leaderboards
from vlpbench.report.records_frame import load_records

DATASET = "syn-odir"


def _overrides(root, *more: str) -> list[str]:
    return [f"runs_dir={root / 'runs'}", f"results_dir={root / 'results'}", "eval.seeds=2", *more]


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A small published grid: clip and random-init, linear probe, 2 runs, packed."""
    root = tmp_path_factory.mktemp("published")
    run_grid(resolve_config("smoke", overrides=_overrides(root)), ["clip", "random-init"], ["linear-probe"], [DATASET])
    assert main(["records", "pack", "--results", str(root / "results"), "--out", str(root / "records")]) == 0
    return root


def test_pack_is_byte_identical_and_reads_back(published, tmp_path):
    packed = sorted((published / "records").rglob("*.jsonl.gz"))
    assert [p.name for p in packed] == ["linear-probe.jsonl.gz"] and (packed[0].parent / "runs.jsonl").exists()
    assert main(["records", "pack", "--results", str(published / "results"), "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / packed[0].parent.name / packed[0].name).read_bytes() == packed[0].read_bytes()
    loose, shipped = load_records(published / "results"), load_records(published / "records")
    columns = ["strategy", "dataset", "seed", "fraction", "status", "config_hash", "task_options"]
    assert loose[columns].equals(shipped[columns]) and [m["auc"] for m in loose.metrics] == [m["auc"] for m in shipped.metrics]
    build_leaderboards(published / "results", tmp_path / "a")
    build_leaderboards(published / "records", tmp_path / "b")
    for name in ("linear-probe.md", "linear-probe.csv", "linear-probe-pairwise.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_a_grid_resumes_from_unpacked_records_on_another_machine(published, tmp_path, capsys):
    """Shipped records unpacked into an empty results folder: the same grid computes nothing
    (no pretraining either: the runs folder stays empty), a record already there is kept, and
    packing the unpacked folder gives the shipped bytes back."""
    fresh = tmp_path / "fresh"
    assert main(["records", "unpack", "--packed", str(published / "records"), "--results", str(fresh / "results")]) == 0
    assert "unpacked 4 records" in capsys.readouterr().out
    assert main(["records", "unpack", "--packed", str(published / "records"), "--results", str(fresh / "results")]) == 0
    assert "unpacked 0 records into" in (out := capsys.readouterr().out) and "(4 already there, kept)" in out
    stamps = {p: p.stat().st_mtime_ns for p in (fresh / "results").rglob("*.json")}
    records = run_grid(resolve_config("smoke", overrides=_overrides(fresh)), ["clip", "random-init"], ["linear-probe"], [DATASET])
    assert len(records) == 4 and not list((fresh / "runs").rglob("model.safetensors"))
    assert {p: p.stat().st_mtime_ns for p in (fresh / "results").rglob("*.json")} == stamps
    assert main(["records", "pack", "--results", str(fresh / "results"), "--out", str(tmp_path / "repacked")]) == 0
    for shipped in (published / "records").rglob("*.jsonl.gz"):
        assert (tmp_path / "repacked" / shipped.parent.name / shipped.name).read_bytes() == shipped.read_bytes()


def test_unpack_without_packed_records_is_one_line(tmp_path, capsys):
    assert main(["records", "unpack", "--packed", str(tmp_path), "--results", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no packed records" in err[0]


def test_a_damaged_packed_file_is_one_line(published, tmp_path, capsys):
    bad = tmp_path / "bad" / "quick-x"
    bad.mkdir(parents=True)
    (bad / "linear-probe.jsonl.gz").write_bytes(gzip.compress(b'{"not": "a record"}\n'))
    assert main(["leaderboard", "--results", str(tmp_path / "bad"), "--out", str(tmp_path / "lb")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "linear-probe.jsonl.gz#1" in err[0] and "missing field" in err[0]


def _register_mine(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(STRATEGIES, "_entries", dict(STRATEGIES._entries))  # undone after the test
    plugin_path, _ = new_strategy("mine", tmp_path / "plugins", tmp_path / "tests")
    spec = importlib.util.spec_from_file_location("vlpbench.strategies.mine", plugin_path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "vlpbench.strategies.mine", module)
    spec.loader.exec_module(module)


def test_new_strategy_against_the_published_grid(published, tmp_path, monkeypatch, capsys):
    _register_mine(tmp_path, monkeypatch)
    mine = tmp_path / "mine"
    records = run_grid(resolve_config("smoke", overrides=_overrides(mine)), ["mine"], ["linear-probe"], [DATASET])
    assert {r["strategy"] for r in records} == {"mine"}  # only the new strategy's compute
    checkpoints = sorted(p.parent.name.rsplit("-", 1)[0] for p in (mine / "runs").rglob("meta.json"))
    assert checkpoints == ["mine", "mine", "text-mlm"]  # its two runs (and the shared text warm start), no published strategy
    assert main(["leaderboard", "--results", str(mine / "results"), "--out", str(tmp_path / "lb"),
                 "--with-published", str(published / "records")]) == 0
    assert "left out" not in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "lb" / "linear-probe.csv")
    assert {"clip", "random-init", "mine"} == set(table.strategy)
    assert set(pd.read_csv(tmp_path / "lb" / "linear-probe-pairwise.csv").a) | {"mine"} >= {"clip", "random-init"}


def test_a_mismatched_protocol_is_refused_in_one_line(published, tmp_path, monkeypatch, capsys):
    _register_mine(tmp_path, monkeypatch)
    other = tmp_path / "other"
    run_grid(resolve_config("smoke", overrides=_overrides(other, "task.linear-probe.c_grid=[0.1,1.0]")), ["mine"],
             ["linear-probe"], [DATASET])
    assert main(["leaderboard", "--results", str(other / "results"), "--out", str(tmp_path / "lb"),
                 "--with-published", str(published / "records")]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("left out")]
    assert len(lines) == 1 and lines[0].startswith("left out: mine on linear-probe: task options") and "c_grid" in lines[0]
    assert set(pd.read_csv(tmp_path / "lb" / "linear-probe.csv").strategy) == {"clip", "random-init"}


def test_with_published_needs_the_folder(tmp_path, capsys):
    (tmp_path / "r").mkdir()
    assert main(["leaderboard", "--results", str(tmp_path / "r"), "--with-published", str(tmp_path / "none")]) == 2
    assert "--with-published" in capsys.readouterr().err
