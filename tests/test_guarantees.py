"""Issue 17, classes 6, 8 and 9: no input is silently ignored (weights matching no key, a missing
--data-root, skipped images), a checkpoint save killed at any point heals on the next run, and two
runs on one folder compute every checkpoint and record once."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import public_fixtures as fx
from vlpbench.app.cli import main
from vlpbench.core.config import resolve_config
from vlpbench.core.errors import VlpbenchError
from vlpbench.encoders.towers import build_image_encoder
from vlpbench.encoders.weights import ALLOW_PARTIAL
from vlpbench.engine.run_cache import Workspace, checkpoint_key

SYN_RUN = ["run", "--strategy", "clip", "--task", "linear-probe", "--dataset", "syn-fives", "--profile", "smoke", "--seeds", "1"]


def stray_weights(path: Path) -> Path:
    save_file({"visual.transformer.resblocks.0.attn.in_proj_weight": torch.zeros(4, 4)}, str(path))
    return path


# --- 6. silently ignored input ----------------------------------------------------------------


def test_weights_matching_no_key_are_refused_naming_file_and_fraction(tmp_path, monkeypatch):
    monkeypatch.delenv(ALLOW_PARTIAL, raising=False)
    weights = stray_weights(tmp_path / "other-model.safetensors")
    config = resolve_config("smoke", overrides=[f"encoders.image.weights={weights}"]).encoders
    with pytest.raises(VlpbenchError) as info:
        build_image_encoder(config)
    message = str(info.value)
    assert "\n" not in message and str(weights) in message and "0.0%" in message and ALLOW_PARTIAL in message


def test_partial_weights_load_when_allowed_and_the_fraction_is_recorded(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(ALLOW_PARTIAL, "1")
    encoder = build_image_encoder(resolve_config("smoke").encoders)
    half = dict(list(encoder.backbone.state_dict().items())[:3])  # a few tensors: some of the parameters
    weights = tmp_path / "partial.safetensors"
    save_file({k: v.contiguous() for k, v in half.items()}, str(weights))
    config = resolve_config("smoke", overrides=[f"encoders.image.weights={weights}", f"runs_dir={tmp_path / 'runs'}"])
    meta = Workspace(config).checkpoint("random-init").meta
    (loaded,) = meta["weights_loaded"]
    assert loaded["file"] == str(weights) and 0 < loaded["fraction"] < 0.5
    assert f"image weights {weights}: set" in capsys.readouterr().err


def test_missing_data_root_is_an_error_for_synthetic_sets(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    code = main([*SYN_RUN, "--data-root", str(missing), "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and str(missing) in err and "does not exist" in err


def test_skipped_images_are_printed_and_recorded(tmp_path, capsys):
    fx.make_refuge(tmp_path / "data")
    (tmp_path / "data" / "REFUGE" / "Test400" / "T0002.jpg").write_bytes(b"\xff\xd8 truncated jpeg")
    code = main(["run", "--strategy", "random-init", "--task", "linear-probe", "--dataset", "refuge", "--profile", "smoke",
                 "--seeds", "1", "--skip-bad-images", "--data-root", str(tmp_path / "data"),
                 "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "results")])
    assert code == 0
    assert "1 undecodable or missing image(s) skipped" in capsys.readouterr().err
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "results").rglob("*.json")]
    assert record["extra"]["skipped_images"] == 1
    assert any("1 undecodable or missing image(s) of refuge skipped" in w for w in record["warnings"])


# --- 8. a killed checkpoint save heals itself ---------------------------------------------------


def bench(tmp_path: Path) -> list[str]:
    return [sys.executable, "-m", "vlpbench", *SYN_RUN, "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "results")]


def temp_folders(runs: Path) -> list[Path]:
    return [p for p in (runs / "smoke").glob(".*.tmp-*") if p.is_dir()]


def test_a_run_killed_while_saving_a_checkpoint_leaves_nothing_the_next_run_refuses(tmp_path, capsys):
    runs = tmp_path / "runs"
    process = subprocess.Popen(bench(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not temp_folders(runs) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert temp_folders(runs), "the run finished before a checkpoint was being written"
    # a checkpoint folder an older version left half-written (weights and a temp file, no meta.json)
    clip = runs / "smoke" / f"clip-{checkpoint_key(resolve_config('smoke'), 'clip', 0)}"
    clip.mkdir(exist_ok=True)
    (clip / "model.safetensors").write_bytes(b"half")
    (clip / ".model.safetensors.x1y2.tmp").write_bytes(b"half")
    capsys.readouterr()
    assert main([*SYN_RUN, "--runs", str(runs), "--results", str(tmp_path / "results")]) == 0
    assert f"cached checkpoint clip (seed 0) {clip} is incomplete" in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.tmp*")), "stale temp files or folders left"
    assert (clip / "meta.json").exists() and len(list((tmp_path / "results").rglob("*.json"))) == 1


# --- 9. two runs on one folder share the work --------------------------------------------------


def test_two_runs_at_once_compute_every_checkpoint_and_record_once(tmp_path):
    processes = [subprocess.Popen(bench(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for _ in range(2)]
    outputs = [process.communicate(timeout=600)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    saved = [line for output in outputs for line in output.splitlines() if line.startswith("saved ")]
    assert len(saved) == 2 and sum("checkpoint clip (seed 0)" in line for line in saved) == 1, saved  # MLM + clip, once each
    log = [json.loads(line) for line in next((tmp_path / "results").rglob("runs.jsonl")).read_text().splitlines()]
    assert sum(entry["records"] for entry in log) == 1, log
    assert len(list((tmp_path / "results").rglob("*.json"))) == 1
    assert not list(tmp_path.rglob("*.tmp*"))


def test_the_sweep_removes_only_what_a_dead_writer_left(tmp_path):
    from vlpbench.core.atomic import HOST_TAG, temp_name
    from vlpbench.core.claims import claim

    root = tmp_path / "runs" / "smoke"
    root.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_file = root / f".r.json.tmp-{HOST_TAG}-{int(dead.stdout)}-ab12"
    live_file = root / temp_name("s.json")  # this process: alive
    dead_file.write_text("x")
    live_file.write_text("x")
    orphan, held = root / temp_name("clip-aaa"), root / temp_name("clip-bbb")
    orphan.mkdir()
    held.mkdir()
    with claim(root / "clip-bbb", "checkpoint clip-bbb"):
        Workspace(resolve_config("smoke", overrides=[f"runs_dir={tmp_path / 'runs'}"]))
    assert not dead_file.exists() and live_file.exists() and not orphan.exists() and held.exists()
