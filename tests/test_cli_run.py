"""`bench run` in-process: the vertical slice, resume, --force, and one-line errors (exit 2)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from vlpbench.app.cli import main
from vlpbench.core.config import resolve_config
from vlpbench.core.errors import VlpbenchError
from vlpbench.engine.run_cache import Workspace


@pytest.fixture(scope="module")
def dirs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli")
    return root / "runs", root / "results"


def _run(dirs, *extra: str) -> int:
    runs, results = dirs
    return main(["run", "--strategy", "clip", "--task", "linear-probe", "--dataset", "syn-refuge", "--profile", "smoke",
                 "--runs", str(runs), "--results", str(results), *extra])


def test_vertical_slice_then_resume_then_force(dirs, capsys):
    assert _run(dirs) == 0
    out = capsys.readouterr().out
    assert "linear-probe" in out and "syn-refuge" in out and "mean ± SD over seeds" in out
    records = sorted(dirs[1].rglob("*.json"))
    assert len(records) == 2  # smoke: 2 seeds
    stamps = [r.stat().st_mtime_ns for r in records]
    assert _run(dirs) == 0  # resume: nothing redone
    assert [r.stat().st_mtime_ns for r in records] == stamps
    records[0].unlink()  # an interrupted grid: one record missing
    assert _run(dirs) == 0
    assert records[0].exists() and records[1].stat().st_mtime_ns == stamps[1]
    assert _run(dirs, "--force") == 0
    assert all(r.stat().st_mtime_ns != s for r, s in zip(records, stamps))
    log = [json.loads(line) for line in next(dirs[1].rglob("runs.jsonl")).read_text().splitlines()]
    assert [entry["records"] for entry in log] == [2, 1, 2]  # the resume that computed nothing is not logged
    assert all(entry["wall_time_s"] > 0 and entry["workers"] == 1 for entry in log)


def test_corrupt_cached_checkpoint_is_reported(dirs, capsys):
    runs, _ = dirs
    # every run's checkpoint (one per pretraining seed; which one the directory lists first is arbitrary)
    originals = {weights: weights.read_bytes() for weights in runs.rglob("clip-*/model.safetensors")}
    try:
        for weights, original in originals.items():
            weights.write_bytes(original[:-8] + b"corrupt!")
        config = resolve_config("smoke", overrides=[f"runs_dir={runs}"])
        with pytest.raises(VlpbenchError, match="is corrupt: SHA-256"):
            Workspace(config).checkpoint("clip")
    finally:
        for weights, original in originals.items():
            weights.write_bytes(original)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_run_directory(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    assert main(["run", "--strategy", "clip", "--task", "ood-zsc", "--profile", "smoke", "--runs", str(locked / "x")]) == 2
    assert "not writable" in capsys.readouterr().err


def test_run_directory_that_is_a_file(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["run", "--strategy", "clip", "--task", "ood-zsc", "--profile", "smoke", "--runs", str(blocker)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"--runs: runs_dir '{blocker}': expected a folder (it is a file)" in err and len(err.splitlines()) == 1


def test_nan_loss_stops_with_strategy_step_and_parts(dirs, monkeypatch):
    from vlpbench.strategies.clip import Clip

    def broken(self, batch):
        return {"loss": torch.tensor(float("nan"), requires_grad=True), "logit_scale": torch.tensor(14.3)}

    monkeypatch.setattr(Clip, "training_step", broken)
    config = resolve_config("smoke", overrides=[f"runs_dir={dirs[0] / 'nan'}"])
    with pytest.raises(VlpbenchError, match=r"strategy 'clip' step 0: loss is not finite \(loss=nan, logit_scale=14.3\)"):
        Workspace(config).checkpoint("clip")


def test_classification_task_on_segmentation_set(dirs, capsys):
    runs, results = dirs
    code = main(["run", "--strategy", "clip", "--task", "linear-probe", "--dataset", "syn-idrid", "--profile", "smoke",
                 "--runs", str(runs), "--results", str(results)])
    assert code == 2
    assert "segmentation set, expected classification" in capsys.readouterr().err
