"""`bench speed`, `bench study label-entropy` and `bench plot tsne` on the smoke profile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from vlpbench.app.plot import tsne_figure
from vlpbench.app.speed import _LossTimer, _timed_loss, measure_speed, render_speed_table
from vlpbench.app.study import label_entropy_study
from vlpbench.core.config import RunConfig, resolve_config
from vlpbench.datasets.base import ClassificationSplit
from vlpbench.report.figures import class_names_of
from vlpbench.strategies.losses import wsc_loss

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> RunConfig:
    root = tmp_path_factory.mktemp("bench")
    return resolve_config("smoke", overrides=[
        f"runs_dir={root / 'runs'}", f"results_dir={root / 'results'}", "device=cpu",
        "corpus.size=256", "eval.dataset_scale=0.15",
    ])


def test_timed_loss_keeps_value_and_gradients() -> None:
    torch.manual_seed(0)
    image, text = torch.randn(6, 4, requires_grad=True), torch.randn(6, 4, requires_grad=True)
    scale = torch.tensor(10.0, requires_grad=True)
    labels = (torch.rand(6, 33) > 0.7).float()
    similarity = labels @ labels.T / 33
    expected = wsc_loss(image * 2, text, similarity, scale)
    expected.backward()
    reference = [t.grad.clone() for t in (image, text, scale)]
    for t in (image, text, scale):
        t.grad = None
    timer = _LossTimer(torch.device("cpu"))
    got = _timed_loss(wsc_loss, timer)(image * 2, text, similarity, logit_scale=scale)
    got.backward()
    assert torch.allclose(got, expected)
    assert all(torch.allclose(r, t.grad) for r, t in zip(reference, (image, text, scale)))
    assert timer.seconds > 0


def test_speed_rows_for_clip_and_wsc(config: RunConfig) -> None:
    measured = measure_speed(config, ["clip", "wsc"], steps=5, warmup=1)
    rows = {row.strategy: row for row in measured}
    assert list(rows) == ["clip", "wsc"]
    for row in rows.values():
        assert row.step_ms > 0 and row.ratio_to_clip > 0 and row.peak_memory_mb > 0 and row.gflop_per_step > 0
        assert row.loss_ms is not None and 0 < row.loss_share < 1
    assert rows["wsc"].gflop_per_step > rows["clip"].gflop_per_step  # momentum encoders, queue terms
    table = render_speed_table(measured, config, steps=5, warmup=1)
    cells = {column.header: list(column.cells) for column in table.columns}
    assert cells["strategy"] == ["clip", "wsc"]
    assert all(float(value) > 0 for value in cells["step ms"])


def test_class_names_of_multilabel_takes_first_positive() -> None:
    split = ClassificationSplit(np.zeros((3, 2, 2, 3), np.uint8), np.array([[0, 1, 1], [0, 0, 0], [1, 0, 1]]))
    assert class_names_of(split, ["a", "b", "c"], multilabel=True) == ["b", "none", "a"]
    split = ClassificationSplit(np.zeros((2, 2, 2, 3), np.uint8), np.array([2, 0]))
    assert class_names_of(split, ["a", "b", "c"], multilabel=False) == ["c", "a"]


def test_tsne_figure_writes_png(config: RunConfig, tmp_path: Path) -> None:
    path = tsne_figure(config, "clip", "syn-fives", tmp_path / "tsne.png")
    assert path == tmp_path / "tsne.png"
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_label_entropy_study_tables_and_figure(config: RunConfig, tmp_path: Path) -> None:
    md, csv, png = label_entropy_study(config, ["clip"], [0.05, 0.1], tmp_path, datasets=["syn-fives", "syn-odir"])
    assert [p.name for p in (md, csv, png)] == ["label-entropy.md", "label-entropy.csv", "label-entropy.png"]
    header, separator, *body = [line for line in md.read_text().splitlines() if line.startswith("|")]
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    assert columns == ["strategy", "mLE 0.05 AUC", "mLE 0.05 mAP", "mLE 0.1 AUC", "mLE 0.1 mAP"]
    assert [line.split("|")[1].strip() for line in body] == ["clip"]
    summary = pd.read_csv(csv)
    assert list(summary["target_mle"]) == [0.05, 0.1]
    assert summary["realised_mle"].between(0, 1).all() and summary["auc"].between(0, 100).all()
    assert summary["realised_mle"].iloc[0] < summary["realised_mle"].iloc[1]  # the target reached the corpus
    assert png.read_bytes()[:8] == PNG_MAGIC
