"""The `colour-only` reference row: the colour features (hand cases), the strategy (no network,
n/a where a task needs one), and its rows on tiny data — linear-probe, finetune and seg — which
must solve tasks whose labels are colour and fail where they are not."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import smoke_context
from test_seg import LESIONS, toy_split
from test_tasks_classification import make_dataset, tiny_config
from vlpbench.core.config import resolve_config
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import STRATEGIES, TASKS
from vlpbench.datasets.base import SegmentationDataset
from vlpbench.datasets.colour_statistics import N_COLOUR_STATISTICS, colour_statistics, neighbourhood_features
from vlpbench.encoders.preprocessing import load_batch
from vlpbench.strategies.base import StrategyContext
from vlpbench.tasks._seg_pixels import best_threshold
from vlpbench.tasks.base import TaskContext
from vlpbench.tasks.loc import maps_by_lesion


def colour_only(config=None):
    context = smoke_context()
    if config is not None:
        context = StrategyContext(config, context.tokenizer, context.build_text_encoder, context.pretrained)
    return STRATEGIES.get("colour-only")(context)


# ----------------------------------------------------------------------------- features


def test_colour_statistics_of_a_hand_made_image():
    image = np.zeros((1, 8, 8, 3), np.uint8)
    image[0, :4, :4] = (255, 0, 0)  # top-left quadrant red, the rest black
    features = colour_statistics(image)[0]
    assert features.shape == (N_COLOUR_STATISTICS,) == (78,)
    np.testing.assert_allclose(features[:3], [0.25, 0, 0])  # means
    np.testing.assert_allclose(features[3:6], [np.sqrt(0.25 * 0.75), 0, 0])  # population SDs
    histograms = features[6:30].reshape(3, 8)
    np.testing.assert_allclose(histograms[0], [0.75, 0, 0, 0, 0, 0, 0, 0.25])
    np.testing.assert_allclose(histograms[1:, 0], [1, 1])
    grid = features[30:].reshape(4, 4, 3)  # row-major cells, channels innermost
    assert (grid[:2, :2, 0] == 1).all() and grid[:, :, 0].sum() == 4 and grid[:, :, 1:].sum() == 0


def test_colour_statistics_on_uneven_sides_and_bad_input():
    images = np.random.default_rng(0).integers(0, 256, (3, 30, 17, 3), dtype=np.uint8)
    features = colour_statistics(images)
    np.testing.assert_allclose(features[:, 6:30].reshape(3, 3, 8).sum(axis=2), 1.0)
    np.testing.assert_allclose(features[:, :3], images.reshape(3, -1, 3).mean(axis=1) / 255)
    with pytest.raises(VlpbenchError, match=r"expected uint8 images of shape \(n, H, W, 3\)"):
        colour_statistics(images.astype(np.float32))
    with pytest.raises(VlpbenchError, match="smaller than the 4 × 4 grid"):
        colour_statistics(images[:, :3])


def test_neighbourhood_features_are_the_3x3_patch_with_edges_replicated():
    image = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(1, 4, 5, 3)
    features = neighbourhood_features(image)
    assert features.shape == (1, 4, 5, 27) and features.dtype == np.float32
    patch = features[0, 1, 2].reshape(3, 3, 3) * 255  # offsets (dy, dx) row-major, channels innermost
    np.testing.assert_allclose(patch, image[0, 0:3, 1:4], atol=1e-4)
    corner = features[0, 0, 0].reshape(3, 3, 3) * 255
    np.testing.assert_allclose(corner[0, 0], image[0, 0, 0], atol=1e-4)  # replicated edge
    np.testing.assert_allclose(corner[2, 2], image[0, 1, 1], atol=1e-4)


# ----------------------------------------------------------------------------- the strategy


def test_colour_only_has_no_network_and_its_features_are_the_colour_statistics():
    model = colour_only()
    assert not list(model.parameters()) and model.hand_crafted and not model.pretrains and not model.has_text_tower
    images = np.random.default_rng(1).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    batch = load_batch(images, np.arange(4), 32)  # what the tasks hand it: normalised tensors
    np.testing.assert_allclose(model.image_features(batch).numpy(), colour_statistics(images), rtol=1e-5, atol=1e-6)
    assert tuple(model.pixel_features(batch).shape) == (4, 27, 32, 32)
    info = STRATEGIES.entry("colour-only").info
    assert "reference" in info.tags and info.order < STRATEGIES.entry("random-init").info.order


def test_tasks_that_need_a_network_or_text_are_not_applicable():
    strategy = STRATEGIES.get("colour-only")
    reasons = {name: TASKS.get(name).not_applicable(strategy) for name in TASKS.names()}
    assert {name for name, reason in reasons.items() if reason} == {"loc", "geometry", "ood-zsc"}
    assert "no network" in reasons["loc"] and "no text tower" in reasons["ood-zsc"]
    assert TASKS.get("loc").not_applicable(STRATEGIES.get("random-init")) is None
    dataset = SegmentationDataset("toy-seg", LESIONS, {"train": toy_split(4, 16, 0), "test": toy_split(2, 16, 1)})
    with pytest.raises(VlpbenchError, match="'colour-only': it has no network"):
        maps_by_lesion(colour_only(), dataset, 16, 4)


# ----------------------------------------------------------------------------- its rows on tiny data


@pytest.mark.parametrize("task", ["linear-probe", "finetune"])
@pytest.mark.parametrize("multilabel", [True, False])
def test_classification_rows_read_colour_labels_and_not_shuffled_ones(task, multilabel, tmp_path):
    """Labels carried by a colour channel: near-perfect AUC; the same images with the test labels
    shuffled: chance. Seeded: the same seed gives the same record."""
    config = tiny_config()
    model, runner = colour_only(config), TASKS.get(task)(config)
    dataset = make_dataset(multilabel)
    run = lambda data: runner.evaluate(model, data, 0, 1.0, TaskContext(tmp_path, "colour"))  # noqa: E731
    result = run(dataset)
    assert result.metrics["auc"] > 95 and result.metrics == run(dataset).metrics
    test = dataset.split("test")
    test.labels = np.random.default_rng(0).permutation(test.labels)
    assert abs(run(dataset).metrics["auc"] - 50) < 20
    if task == "finetune":
        assert "no encoder" in result.extra["protocol"]


def test_seg_row_segments_colour_lesions_with_a_threshold_from_val():
    train, val, test = toy_split(10, 32, 0), toy_split(6, 32, 1), toy_split(6, 32, 2)
    dataset = SegmentationDataset("toy-seg", LESIONS, {"train": train, "val": val, "test": test})
    config = resolve_config("smoke", overrides=["task.seg.image_size=32"])
    model, task = colour_only(config), TASKS.get("seg")(config)
    result = task.evaluate(model, dataset, 0, 1.0, TaskContext(None, "colour"))  # type: ignore[arg-type]
    assert result.metrics["dsc"] > 90 and "logistic regression" in result.extra["protocol"]
    assert result.metrics == task.evaluate(model, dataset, 0, 1.0, TaskContext(None, "colour")).metrics  # type: ignore[arg-type]
    grey = [toy_split(n, 32, s) for n, s in ((10, 3), (6, 4), (6, 5))]
    for split in grey:  # the lesion squares kept, their colour removed: nothing for colour to find
        split.images[:] = np.random.default_rng(6).integers(0, 60, split.images.shape, dtype=np.uint8)
    blind = SegmentationDataset("toy-grey", LESIONS, dict(zip(("train", "val", "test"), grey)))
    assert task.evaluate(model, blind, 0, 1.0, TaskContext(None, "colour")).metrics["dsc"] < 40  # type: ignore[arg-type]


def test_seg_row_without_a_val_split_holds_out_training_images():
    dataset = SegmentationDataset("toy-seg", LESIONS, {"train": toy_split(10, 32, 0), "test": toy_split(4, 32, 2)})
    config = resolve_config("smoke", overrides=["task.seg.image_size=32", "task.seg.train_images=5"])
    result = TASKS.get("seg")(config).evaluate(colour_only(config), dataset, 1, 1.0, TaskContext(None, "c"))  # type: ignore[arg-type]
    assert result.extra["train_images"] == 5 and result.metrics["dsc"] > 80


def test_best_threshold_maximises_the_pooled_dsc():
    scores = np.array([0.1, 0.2, 0.35, 0.4, 0.8, 0.9])
    truth = np.array([0, 0, 1, 0, 1, 1], bool)
    threshold = best_threshold(scores, truth)
    dsc = lambda t: 2 * (truth & (scores >= t)).sum() / (truth.sum() + (scores >= t).sum())  # noqa: E731
    assert dsc(threshold) == max(dsc(t) for t in scores) and threshold == pytest.approx(0.35)


def test_bench_plot_gradcam_of_colour_only_is_a_one_line_error(tmp_path, capsys):
    from vlpbench.app.cli import main

    code = main(["plot", "gradcam", "--strategy", "colour-only", "--dataset", "syn-idrid", "--lesion", "hemorrhage",
                 "--profile", "smoke", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "g.png")])
    err = capsys.readouterr().err
    assert code == 2 and "'colour-only': it has no network" in err and "Traceback" not in err
