"""`bench speed`, `bench study label-entropy` and `bench plot tsne` on the smoke profile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import random_batch, smoke_context
from vlpbench.app.plot import tsne_figure
from vlpbench.app.speed import BACKWARD_NODE, LOSS_RANGE, _loss_events, measure_speed, profile_losses, render_speed_table
from vlpbench.app.study import label_entropy_study
from vlpbench.core.config import RunConfig, resolve_config
from vlpbench.datasets.base import ClassificationSplit
from vlpbench.engine.pretraining import optimizer_step_function
from vlpbench.report.figures import class_names_of
from vlpbench.strategies.losses import medclip_loss, wsc_loss
from vlpbench.strategies.wsc import WeightedSimilarityCoupling

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> RunConfig:
    root = tmp_path_factory.mktemp("bench")
    return resolve_config("smoke", overrides=[
        f"runs_dir={root / 'runs'}", f"results_dir={root / 'results'}", "device=cpu",
        "corpus.size=256", "eval.dataset_scale=0.15",
    ])


def test_profiled_loss_keeps_value_and_gradients() -> None:
    torch.manual_seed(0)
    image, text = torch.randn(6, 4, requires_grad=True), torch.randn(6, 4, requires_grad=True)
    scale = torch.tensor(10.0, requires_grad=True)
    labels = (torch.rand(6, 33) > 0.7).float()
    similarity = labels @ labels.T / 33
    expected = wsc_loss.__wrapped__(image * 2, text, similarity, scale)
    reference = torch.autograd.grad(expected, (image, text, scale))
    got = wsc_loss(image * 2, text, similarity, logit_scale=scale)
    assert wsc_loss.__name__ == "wsc_loss" and torch.equal(got, expected)
    assert all(torch.equal(r, g) for r, g in zip(reference, torch.autograd.grad(got, (image, text, scale))))


def test_profile_losses_counts_forward_and_backward_once() -> None:
    torch.manual_seed(0)
    net = torch.nn.Linear(16, 8)
    labels = (torch.rand(32, 5) > 0.5).float()

    def step(inputs: torch.Tensor) -> None:
        features = net(inputs)  # medclip_loss(similarity="cosine") calls label_similarity inside
        medclip_loss(features, features.flip(0).tanh(), labels, 10.0, similarity="cosine").backward()

    profiled = profile_losses(step, [torch.randn(32, 16) for _ in range(2)], torch.device("cpu"))
    assert profiled.names == {"loss/medclip_loss", "loss/label_similarity"}
    assert len(profiled.shares) == 2 and all(0 < share < 1 for share in profiled.shares)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        step(torch.randn(32, 16))
    chosen = _loss_events(prof.events())
    forward = [e.name for e in chosen if e.name.startswith(LOSS_RANGE)]
    backward = {e.name.removeprefix(BACKWARD_NODE) for e in chosen if e.name.startswith(BACKWARD_NODE)}
    assert forward == ["loss/medclip_loss"]  # the nested label_similarity is not counted again
    assert "LogSoftmaxBackward0" in backward  # the loss' own backward is loss time ...
    assert not backward & {"AddmmBackward0", "FlipBackward0", "TanhBackward0"}  # ... the encoder's and the caller's are not


def test_loss_share_of_a_strategy_step() -> None:
    torch.manual_seed(0)
    context = smoke_context(["strategy.wsc.queue_size=12"])
    model = WeightedSimilarityCoupling(context).train()
    step_once = optimizer_step_function(model, "wsc", context.config.pretrain, torch.device("cpu"))
    batches = [random_batch(context, 8, seed=seed) for seed in range(3)]
    step_once(batches[0], 0)
    profiled = profile_losses(lambda batch: step_once(batch, 0), batches, torch.device("cpu"))
    assert {"loss/wsc_loss", "loss/wsc_queue_loss", "loss/label_similarity"} <= profiled.names
    assert len(profiled.shares) == 3 and all(0 < share < 1 for share in profiled.shares)
    assert all(0 < loss < step for loss, step in zip(profiled.loss_s, profiled.step_s))


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
    assert (summary["runs"] == config.eval.seeds).all() and summary["auc_sd"].notna().all()  # error bars over pretraining runs
    assert png.read_bytes()[:8] == PNG_MAGIC


def test_speed_of_a_reference_row_is_a_one_line_error(config: RunConfig) -> None:
    """Reference rows never train (random-init, colour-only): named alone they are an error; `all` leaves them out."""
    from vlpbench.core.errors import VlpbenchError

    with pytest.raises(VlpbenchError, match="random-init never train"):
        measure_speed(config, ["random-init"], steps=1, warmup=0)
