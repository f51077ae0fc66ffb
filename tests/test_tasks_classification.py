"""Classification tasks (linear-probe, finetune, ood-zsc), their metrics and paired seeding."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, roc_auc_score

from vlpbench.core.config import (
    EncoderConfig,
    EvalConfig,
    ImageEncoderConfig,
    RunConfig,
    TextEncoderConfig,
    resolve_config,
)
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import TASKS
from vlpbench.datasets.base import ClassificationDataset, ClassificationSplit, SegmentationDataset, SegmentationSplit
from vlpbench.encoders.preprocessing import augment, load_batch
from vlpbench.encoders.tokenizer import CharTokenizer
from vlpbench.encoders.towers import build_image_encoder, build_text_encoder
from vlpbench.strategies.base import Strategy, StrategyContext
from vlpbench.tasks import finetune as finetune_module
from vlpbench.tasks._features import extract_features
from vlpbench.tasks._metrics import bootstrap_metrics, classification_metrics
from vlpbench.tasks._sampling import init_linear_head, nested_fraction_indices, seed_generator
from vlpbench.tasks.base import TaskContext
from vlpbench.tasks.finetune import Finetune
from vlpbench.tasks.linear_probe import LinearProbe, fit_probe
from vlpbench.tasks.ood_zsc import OodZeroShot

SIZE = 16
NAMES = {True: ["dr", "glaucoma", "others"], False: ["normal", "dr", "amd"]}
TERMS = {"dr": "糖尿病视网膜病变", "glaucoma": "青光眼", "others": "其他", "normal": "正常眼底", "amd": "年龄相关性黄斑变性"}
TEMPLATE = "眼底照片显示{}"


def tiny_config() -> RunConfig:
    encoders = EncoderConfig(
        image=ImageEncoderConfig(img_size=SIZE, patch_size=8, width=16, depth=1, heads=2),
        text=TextEncoderConfig(width=16, layers=1, heads=2, intermediate=32, max_length=16),
        proj_dim=16,
    )
    evaluation = EvalConfig(seeds=2, image_size=SIZE, batch_size=16)
    options = {"task.finetune.epochs=2", "task.finetune.patience=1", "task.ood-zsc.bootstrap=50",
               f"task.ood-zsc.template={TEMPLATE}", "task.linear-probe.c_grid=[0.1, 1.0]"}
    config = resolve_config("smoke", overrides=sorted(options))
    return dataclasses.replace(config, encoders=encoders, eval=evaluation)


class TinyStrategy(Strategy):
    """Real (tiny) encoders with weights fixed by `init_seed`; counts feature extractions."""

    def __init__(self, context: StrategyContext, init_seed: int) -> None:
        super().__init__(context)
        torch.manual_seed(init_seed)
        self.image_encoder = build_image_encoder(context.config.encoders)
        self.text_encoder = context.build_text_encoder()
        self.feature_calls = 0

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        self.feature_calls += 1
        return super().image_features(images)


def make_strategy(init_seed: int = 0) -> TinyStrategy:
    config = tiny_config()
    tokenizer = CharTokenizer.build([TEMPLATE, *TERMS.values()])
    context = StrategyContext(config=config, tokenizer=tokenizer,
                              build_text_encoder=lambda: build_text_encoder(config.encoders, tokenizer),
                              pretrained=lambda name: None)
    return TinyStrategy(context, init_seed)


def make_dataset(multilabel: bool, sizes=(60, 30, 40), seed: int = 0) -> ClassificationDataset:
    """Random images whose colour channels carry the labels, so a probe can learn them."""
    rng = np.random.default_rng(seed)
    splits = {}
    for name, n in zip(("train", "val", "test"), sizes):
        if multilabel:
            labels = (rng.random((n, 3)) < 0.4).astype(np.int64)
            labels[:3] = np.eye(3, dtype=np.int64)  # every class present, with negatives too
            channels = labels
        else:
            labels = np.arange(n) % 3
            rng.shuffle(labels)
            channels = np.eye(3, dtype=np.int64)[labels]
        images = rng.integers(0, 120, (n, SIZE, SIZE, 3)) + 100 * channels[:, None, None, :]
        splits[name] = ClassificationSplit(images=images.astype(np.uint8), labels=labels)
    names = NAMES[multilabel]
    return ClassificationDataset(name=f"tiny-{'ml' if multilabel else 'mc'}", class_names=names, multilabel=multilabel,
                                 prompts={"zh": [TERMS[n] for n in names], "en": names}, splits=splits)


def context(tmp_path) -> TaskContext:
    return TaskContext(cache_dir=tmp_path, checkpoint_hash="abc123")


# ---------------------------------------------------------------- metrics


def test_metrics_match_sklearn_multilabel_and_multiclass():
    rng = np.random.default_rng(1)
    y = (rng.random((50, 4)) < 0.3).astype(int)
    y[0] = 1
    y[1] = 0
    s = np.round(rng.random((50, 4)), 1)  # ties included
    metrics, warnings = classification_metrics(y, s, True, list("abcd"))
    assert warnings == []
    assert metrics["auc"] == pytest.approx(100 * roc_auc_score(y, s, average="macro"))
    assert metrics["map"] == pytest.approx(100 * average_precision_score(y, s, average="macro"))

    labels = np.arange(60) % 3
    proba = rng.dirichlet(np.ones(3), size=60)
    metrics, _ = classification_metrics(labels, proba, False, list("abc"))
    assert metrics["auc"] == pytest.approx(100 * roc_auc_score(labels, proba, multi_class="ovr", average="macro"))
    assert metrics["map"] == pytest.approx(100 * average_precision_score(np.eye(3)[labels], proba, average="macro"))


def test_perfect_and_constant_scorers():
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    assert classification_metrics(y, y.astype(float), True, ["a", "b"])[0] == {"auc": 100.0, "map": 100.0}
    assert classification_metrics(y, np.zeros((4, 2)), True, ["a", "b"])[0]["auc"] == 50.0
    labels = np.array([0, 1, 2, 2])
    assert classification_metrics(labels, np.eye(3)[labels], False, list("abc"))[0]["auc"] == 100.0


def test_class_absent_from_test_split_is_skipped_with_warning():
    y = np.array([[1, 0, 1], [0, 0, 1], [1, 0, 1], [0, 0, 1]])
    s = np.array([[0.9, 0.1, 0.5], [0.2, 0.3, 0.5], [0.8, 0.2, 0.1], [0.1, 0.9, 0.3]])
    metrics, warnings = classification_metrics(y, s, True, ["dr", "amd", "normal"])
    assert metrics == {"auc": 100.0, "map": 100.0}  # only 'dr' is scorable
    assert len(warnings) == 2
    assert "'amd'" in warnings[0] and "no positives" in warnings[0]
    assert "'normal'" in warnings[1] and "no negatives" in warnings[1]


def test_bootstrap_replicates_match_sklearn_on_each_resample_and_are_paired():
    rng = np.random.default_rng(2)
    y = (rng.random((30, 3)) < 0.3).astype(int)
    s = np.round(rng.random((30, 3)), 1)
    replicates = bootstrap_metrics(y, s, True, list("abc"), 20, seed=0)
    indices = seed_generator(0, "bootstrap/30")[0].integers(0, 30, size=(20, 30))
    for k, rows in enumerate(indices):
        expected, _ = classification_metrics(y[rows], s[rows], True, list("abc"))
        assert replicates["auc"][k] == pytest.approx(expected["auc"])
        assert replicates["map"][k] == pytest.approx(expected["map"])
    # same resamples whatever the scores: a monotone rescaling gives identical replicates
    assert bootstrap_metrics(y, 3 * s + 1, True, list("abc"), 20) == replicates
    assert bootstrap_metrics(y, s, True, list("abc"), 20, seed=1) != replicates


# ---------------------------------------------------------------- paired seeding


def test_nested_fractions_are_stratified_nested_and_deterministic():
    labels = np.repeat([0, 1, 2], [500, 300, 20])
    subsets = {f: nested_fraction_indices(labels, f, seed=3) for f in (0.01, 0.1, 1.0)}
    assert set(subsets[0.01]) <= set(subsets[0.1]) <= set(subsets[1.0])
    assert np.array_equal(subsets[1.0], np.arange(len(labels)))
    assert np.bincount(labels[subsets[0.01]]).tolist() == [5, 3, 1]  # every class kept
    assert np.bincount(labels[subsets[0.1]]).tolist() == [50, 30, 2]
    assert np.all(np.diff(subsets[0.1]) > 0)
    torch.manual_seed(123)
    np.random.seed(123)  # global RNG state must not matter
    assert np.array_equal(nested_fraction_indices(labels, 0.1, seed=3), subsets[0.1])
    assert not np.array_equal(nested_fraction_indices(labels, 0.1, seed=4), subsets[0.1])

    multi = (np.random.default_rng(0).random((400, 5)) < [0.5, 0.2, 0.1, 0.02, 0.005]).astype(int)
    small, large = (nested_fraction_indices(multi, f, seed=0) for f in (0.01, 0.1))
    assert set(small) <= set(large)
    assert np.all(multi[small].sum(axis=0) >= 1)  # every class with positives is represented
    with pytest.raises(VlpbenchError):
        nested_fraction_indices(labels, 0.0, seed=0)


def test_two_strategies_get_identical_subsets_heads_and_augmentation(tmp_path, monkeypatch):
    """Fine-tuning two different models with the same seed draws byte-identical training
    batches (indices and augmented pixels) and head initialisations."""
    dataset = make_dataset(multilabel=False)
    draws: dict[int, list] = {}
    real_augment, real_head = finetune_module.augment, finetune_module.init_linear_head

    def spy_augment(images, generator):
        out = real_augment(images, generator)
        draws[current].append(out.numpy().tobytes())
        return out

    def spy_head(in_features, out_features, seed):
        head = real_head(in_features, out_features, seed)
        draws[current].append(head.weight.detach().numpy().tobytes() + head.bias.detach().numpy().tobytes())
        return head

    monkeypatch.setattr(finetune_module, "augment", spy_augment)
    monkeypatch.setattr(finetune_module, "init_linear_head", spy_head)
    models = [make_strategy(0), make_strategy(1)]
    assert not torch.equal(models[0].image_encoder.proj.weight, models[1].image_encoder.proj.weight)
    for current, model in enumerate(models):
        draws[current] = []
        Finetune(tiny_config()).evaluate(model, dataset, seed=1, fraction=0.5, context=context(tmp_path))
    assert len(draws[0]) > 2 and draws[0] == draws[1]

    _, generator = seed_generator(1, "finetune-augment")
    batch = load_batch(dataset.split("train").images, [0, 1], SIZE)
    torch.manual_seed(0)
    first = augment(batch, seed_generator(1, "finetune-augment")[1])
    torch.manual_seed(99)
    assert torch.equal(first, augment(batch, generator))
    assert torch.equal(init_linear_head(8, 3, seed=2).weight, init_linear_head(8, 3, seed=2).weight)
    assert not torch.equal(init_linear_head(8, 3, seed=2).weight, init_linear_head(8, 3, seed=3).weight)


# ---------------------------------------------------------------- features and probe


def test_feature_cache_is_reused(tmp_path):
    model = make_strategy()
    images = make_dataset(True).split("test").images
    path = tmp_path / "features.npy"
    first = extract_features(model, images, np.arange(len(images)), SIZE, 16, "cpu", path)
    calls = model.feature_calls
    assert calls == 3 and path.exists() and first.shape == (40, 16)
    second = extract_features(model, images, np.arange(len(images)), SIZE, 16, "cpu", path)
    assert model.feature_calls == calls and np.array_equal(first, second)
    assert not list(tmp_path.glob("*.tmp"))

    task = LinearProbe(tiny_config())
    dataset = make_dataset(True)
    model.feature_calls = 0
    task.evaluate(model, dataset, seed=0, fraction=1.0, context=context(tmp_path))
    assert model.feature_calls > 0
    model.feature_calls = 0
    task.evaluate(model, dataset, seed=1, fraction=0.5, context=context(tmp_path))
    assert model.feature_calls == 0


def test_linear_probe_picks_c_on_validation():
    """Few noisy training samples, many features: strong regularisation wins on validation;
    with the validation labels flipped the weakest C wins instead (it is chosen on val)."""
    rng = np.random.default_rng(0)
    direction = rng.normal(size=50)

    def sample(n):
        x = rng.normal(size=(n, 50))
        return x, (x @ direction + 4 * rng.normal(size=n) > 0).astype(int)

    train_x, train_y = sample(40)
    val_x, val_y = sample(400)
    grid = [1e-4, 1e-2, 1.0, 100.0]
    probe, _ = fit_probe(train_x, train_y, val_x, val_y, False, ["no", "yes"], grid, random_state=0)
    aucs = {}
    for c in grid:
        aucs[c] = fit_probe(train_x, train_y, val_x, val_y, False, ["no", "yes"], [c], 0)[0].val_auc
    assert probe.c == max(aucs, key=aucs.get)
    assert probe.val_auc == max(aucs.values())
    flipped, _ = fit_probe(train_x, train_y, val_x, 1 - val_y, False, ["no", "yes"], grid, 0)
    assert flipped.c == min(aucs, key=aucs.get)


def test_probe_handles_a_class_missing_from_training():
    rng = np.random.default_rng(0)
    x, val_x = rng.normal(size=(20, 4)), rng.normal(size=(20, 4))
    y_ml = np.zeros((20, 2), int)
    y_ml[::2, 0] = 1
    val_ml = np.array([[1, 1], [0, 0]] * 10)
    probe, notes = fit_probe(x, y_ml, val_x, val_ml, True, ["a", "b"], [1.0], 0)
    assert any("'b'" in note and "constant" in note for note in notes)
    assert np.allclose(probe.scores(val_x)[:, 1], probe.scores(val_x)[0, 1])
    y_mc = np.arange(20) % 2  # class 2 never seen
    probe, notes = fit_probe(x, y_mc, val_x, np.arange(20) % 3, False, ["a", "b", "c"], [1.0], 0)
    assert any("'c'" in note for note in notes)
    assert probe.scores(val_x).shape == (20, 3) and np.all(probe.scores(val_x)[:, 2] == 0)
    one_column = (x[:, :1] > 0).astype(int)  # a multi-label set with a single label (e.g. glaucoma)
    probe, _ = fit_probe(x, one_column, x, one_column, True, ["glaucoma"], [1.0], 0)
    assert probe.scores(x).shape == (20, 1) and probe.val_auc == 100.0


# ---------------------------------------------------------------- end to end


@pytest.mark.parametrize("multilabel", [True, False])
@pytest.mark.parametrize("task_class", [LinearProbe, Finetune, OodZeroShot])
def test_task_end_to_end(task_class, multilabel, tmp_path):
    task = task_class(tiny_config())
    result = task.evaluate(make_strategy(), make_dataset(multilabel), seed=0, fraction=1.0, context=context(tmp_path))
    assert set(result.metrics) == {"auc", "map"}
    assert all(0.0 <= v <= 100.0 for v in result.metrics.values())
    if task_class is LinearProbe:
        assert result.metrics["auc"] > 80  # the labels are visible in the colour channels
    if task_class is OodZeroShot:
        assert len(result.bootstrap["auc"]) == 50
        for name in ("auc", "map"):
            low, high = result.ci[name]
            assert low <= result.metrics[name] <= high
        if multilabel:
            assert any("others" in w for w in result.warnings)  # ViLReF leaves 'others' out


def test_tasks_are_registered_with_their_flags():
    assert TASKS.get("linear-probe") is LinearProbe and TASKS.get("finetune") is Finetune
    assert TASKS.get("ood-zsc") is OodZeroShot
    assert OodZeroShot.deterministic and OodZeroShot.needs_text_tower and not OodZeroShot.uses_fractions
    assert LinearProbe.uses_fractions and Finetune.uses_fractions
    assert "syn-messidor" in TASKS.entry("linear-probe").info.default_datasets


def test_classification_task_rejects_a_segmentation_set():
    images, masks = np.zeros((2, SIZE, SIZE, 3), np.uint8), np.zeros((2, 1, SIZE, SIZE), np.uint8)
    split = SegmentationSplit(images=images, masks=masks)
    dataset = SegmentationDataset(name="tiny-seg", lesion_names=["hemorrhage"], splits={"train": split, "test": split})
    for task_class in (LinearProbe, Finetune, OodZeroShot):
        with pytest.raises(VlpbenchError) as error:
            task_class(tiny_config()).evaluate(make_strategy(), dataset, 0, 1.0, context(None))
        assert "tiny-seg" in str(error.value) and "\n" not in str(error.value)


def test_zero_shot_prompt_errors_are_one_line():
    dataset = make_dataset(False)
    dataset.prompts = {"en": dataset.prompts["en"]}
    with pytest.raises(VlpbenchError, match="no 'zh' prompts"):
        OodZeroShot(tiny_config()).evaluate(make_strategy(), dataset, 0, 1.0, context(None))
