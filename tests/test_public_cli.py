"""Every public-dataset loader runs through the CLI on its fixture tree: `bench run --strategy
clip --task <its task> --dataset <name> --data-root FIXTURE`."""

from __future__ import annotations

import json

import pytest

import public_fixtures as fx
from vlpbench.app.cli import main

CASES = [
    ("rfmid", "linear-probe", fx.make_rfmid),
    ("odir", "linear-probe", fx.make_odir),
    ("refuge", "linear-probe", fx.make_refuge),
    ("messidor", "linear-probe", fx.make_messidor),
    ("fives", "ood-zsc", fx.make_fives),
    ("idrid", "seg", fx.make_idrid),
    ("retinal-lesions", "seg", fx.make_retinal_lesions),
    ("fgadr", "seg", fx.make_fgadr),
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    return tmp_path_factory.mktemp("public-runs")


@pytest.mark.parametrize("name, task, make", CASES, ids=[c[0] for c in CASES])
def test_loader_runs_through_the_cli(name, task, make, runs, tmp_path, capsys):
    root = tmp_path / "data"
    root.mkdir()
    make(root)
    results = tmp_path / "results"
    code = main(["run", "--strategy", "clip", "--task", task, "--dataset", name, "--data-root", str(root),
                 "--profile", "smoke", "--seeds", "1", "--runs", str(runs), "--results", str(results)])
    assert code == 0, capsys.readouterr().err
    records = [json.loads(p.read_text()) for p in results.rglob("*.json")]
    assert records and all(r["status"] == "ok" and r["dataset"] == name for r in records)
    assert all(0 <= v <= 100 for r in records for v in r["metrics"].values())
    assert name in capsys.readouterr().out


def test_missing_data_root_folder_is_one_line_error(runs, tmp_path, capsys):
    code = main(["run", "--strategy", "clip", "--task", "linear-probe", "--dataset", "rfmid", "--data-root",
                 str(tmp_path / "nowhere"), "--profile", "smoke", "--runs", str(runs), "--results", str(tmp_path / "r")])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nowhere" in err
