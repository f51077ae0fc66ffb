"""`bench study variance`: pilot grids of a strategy and a planted rung over candidate designs, and
the report of components, MDD at 5 and 10 runs and the cost of a run (smoke profile)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vlpbench.app.cli import main
from vlpbench.app.variance_study import parse_designs, pilot_strategies
from vlpbench.core.errors import VlpbenchError
from vlpbench.report.rank_statistics import metric_values
from vlpbench.report.records_frame import load_records
from vlpbench.report.variance_components import fit_components, value_cube


def test_designs_parse_and_bad_ones_are_one_line():
    assert parse_designs(["base:", "long:pretrain.steps=900,corpus.size=8000"]) == {
        "base": (), "long": ("pretrain.steps=900", "corpus.size=8000")}
    assert set(parse_designs(None)) == {"steps-300", "steps-600", "steps-900"}
    with pytest.raises(VlpbenchError, match="--design 'oops:steps': expected NAME:key=value"):
        parse_designs(["oops:steps"])
    assert pilot_strategies() == ["clip", "clip-mismatch-25"]  # the baseline and the middle rung of its ladder


def test_variance_study_on_the_smoke_profile(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["study", "variance", "--profile", "smoke", "--design", "short:", "--design", "longer:pretrain.steps=8",
            "--task", "linear-probe", "--seeds", "2", "--out", str(tmp_path / "out"), "--set", "threads=1"]
    wider = [*args[:args.index("--task") + 1], "linear-probe,ood-zsc", *args[args.index("--task") + 2:]]
    assert main(wider) == 0
    assert set(pd.read_csv(tmp_path / "out" / "variance-study.csv")["task"]) == {"linear-probe", "ood-zsc"}
    assert main(args) == 0  # the same folders now hold ood-zsc records too: the report keeps to the tasks studied
    frame = pd.read_csv(tmp_path / "out" / "variance-study.csv")
    assert frame[["design", "task", "strategies", "runs"]].values.tolist() == [["short", "linear-probe", 2, 2],
                                                                              ["longer", "linear-probe", 2, 2]]
    assert (frame["mdd_10"] < frame["mdd_5"]).all() and (frame["minutes_per_run"] > 0).all()
    # the report's components are those fitted from the design's own records
    grid = sorted((tmp_path / "results-variance-study").iterdir())
    for folder in grid:
        records = load_records(folder).query("task == 'linear-probe'")
        values = metric_values(records[~records["replicate"]], "auc")
        fitted = fit_components(value_cube(values, sorted(values["strategy"].unique()))[0])
        row = frame[frame["mdd_5"].round(6) == round(fitted.mdd(runs=5), 6)]
        assert len(row) == 1 and np.isclose(row["sd_pretraining_shared"].iloc[0], np.sqrt(fitted.run))
    text = (tmp_path / "out" / "variance-study.md").read_text()
    assert "| short    | (profile)" in text and "pretrain.steps=8" in text and (tmp_path / "out" / "variance-study.png").is_file()
    before = (tmp_path / "out" / "variance-study.csv").read_bytes()
    assert main(args) == 0  # rerun: the records are reused and the report is the same
    assert (tmp_path / "out" / "variance-study.csv").read_bytes() == before
