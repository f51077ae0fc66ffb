"""The `seg` task: mmseg backbone/head shapes, training, sliding-window inference, DSC/IoU,
the mmcv-lite compatibility module, the frozen-encoder option and the task end to end."""

from __future__ import annotations

import dataclasses
import importlib.machinery
import importlib.util
import sys

import numpy as np
import pytest
import torch
from torch import nn

from vlpbench.core.config import EncoderConfig, ImageEncoderConfig, RunConfig, resolve_config
from vlpbench.core.errors import VlpbenchError
from vlpbench.datasets.base import SegmentationDataset, SegmentationSplit
from vlpbench.encoders.towers import build_image_encoder
from vlpbench.strategies.base import Strategy
from vlpbench.tasks import _mmcv_compat
from vlpbench.tasks._seg_metrics import PixelCounts, lesion_metrics
from vlpbench.tasks.base import TaskContext
from vlpbench.tasks.seg import SegmentationTask, augment_pair, lesion_presence, train_segmentor

LESIONS = ["haemorrhages", "soft_exudates", "hard_exudates"]


def encoder(arch: str, img_size: int = 32):
    torch.manual_seed(0)
    return build_image_encoder(EncoderConfig(image=ImageEncoderConfig(arch=arch, img_size=img_size)))


def eval_config(**changes) -> RunConfig:
    config = resolve_config("quick")
    settings = dict(image_size=32, steps=4, lr=1e-3) | changes
    seg = dataclasses.replace(config.task["seg"], **settings)
    return dataclasses.replace(config, eval=dataclasses.replace(config.eval, batch_size=8), task={**config.task, "seg": seg})


def toy_split(n: int, size: int, seed: int, lesions: int = 3) -> SegmentationSplit:
    """Dark noise images; each lesion type is a bright square in its own colour channel."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 60, (n, size, size, 3), dtype=np.uint8)
    masks = np.zeros((n, lesions, size, size), np.uint8)
    for i in range(n):
        for lesion in range(lesions):
            if rng.random() < 0.7:
                y, x = rng.integers(0, size - size // 3, 2)
                side = int(rng.integers(size // 8, size // 3))
                masks[i, lesion, y:y + side, x:x + side] = 1
                images[i, y:y + side, x:x + side, lesion] = 230
    return SegmentationSplit(images, masks)


class TinyStrategy(Strategy):
    """Only what the task uses: `image_encoder`."""

    def __init__(self, image_encoder) -> None:
        nn.Module.__init__(self)
        self.image_encoder = image_encoder


@pytest.fixture(scope="module")
def seg_model():
    from vlpbench.tasks import _seg_model

    return _seg_model


# --- mmcv-lite compatibility -------------------------------------------------------------


@pytest.mark.skipif(_mmcv_compat.compiled_ops_available(), reason="full mmcv installed: no stand-in")
def test_standin_offers_point_sample_and_refuses_compiled_ops(seg_model):
    import mmseg.evaluation  # noqa: F401  every mmseg subpackage we rely on imports
    import mmseg.models  # noqa: F401
    from mmcv.ops import point_sample

    sampled = point_sample(torch.arange(16.0).view(1, 1, 4, 4), torch.tensor([[[0.125, 0.125]]]), align_corners=False)
    assert sampled.item() == 0.0  # the centre of the top-left pixel
    with pytest.raises(ModuleNotFoundError, match="compiled ops"):
        from mmcv.ops import PSAMask  # noqa: F401
    import mmcv.ops

    with pytest.raises(ModuleNotFoundError):
        mmcv.ops.sigmoid_focal_loss(torch.zeros(1, 1), torch.zeros(1, dtype=torch.long))
    assert not hasattr(mmcv.ops, "__file__")


def test_compat_inactive_when_compiled_ops_exist(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.delitem(sys.modules, "mmcv.ops", raising=False)
    monkeypatch.setattr(
        importlib.util, "find_spec",
        lambda name, *args: importlib.machinery.ModuleSpec(name, None) if name == "mmcv._ext" else real_find_spec(name, *args),
    )
    assert _mmcv_compat.compiled_ops_available()
    _mmcv_compat.ensure_mmseg()
    assert "mmcv.ops" not in sys.modules


# --- model pieces ----------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["vit", "resnet"])
def test_backbone_gives_four_declared_maps_and_head_full_size_logits(seg_model, arch):
    image_encoder = encoder(arch)
    segmentor = seg_model.build_segmentor(image_encoder, input_size=64)
    images = torch.randn(2, 3, 64, 64)
    maps = segmentor.extract_feat(images)
    expected = [(2, c, 64 // s, 64 // s) for c, s in zip(image_encoder.multiscale_channels, (4, 8, 16, 32))]
    assert [tuple(m.shape) for m in maps] == expected
    assert tuple(segmentor.decode_head(maps).shape) == (2, 2, 64, 64)
    assert segmentor.backbone.encoder is image_encoder  # handed over through mmseg's builder, not copied


def test_lesion_weight_reaches_the_cross_entropy_and_widths_the_decoder(seg_model):
    segmentor = seg_model.build_segmentor(encoder("vit"), input_size=32, channels=8, lesion_weight=30.0)
    cross_entropy, dice = segmentor.decode_head.loss_decode
    assert cross_entropy.class_weight == [1.0, 30.0] and dice.ignore_index == 0
    assert segmentor.decode_head.channels == 8
    assert [stage[0].conv.out_channels for stage in segmentor.decode_head.stages] == [32, 16, 8]  # deep → shallow
    logits = torch.zeros(1, 2, 4, 4)
    logits[:, 0] = 1.0  # every pixel predicted background
    target = torch.zeros(1, 4, 4, dtype=torch.long)
    target[0, 0, 0] = 1
    plain = seg_model.build_segmentor(encoder("vit"), input_size=32, lesion_weight=1.0).decode_head.loss_decode[0]
    # weighted mean of per-pixel CE: the one missed lesion pixel counts 30 times, in sum and count
    per_pixel = torch.nn.functional.cross_entropy(logits, target, reduction="none")
    weights = 1 + 29 * target
    assert torch.isclose(cross_entropy(logits, target), (per_pixel * weights).sum() / weights.sum())
    assert torch.isclose(plain(logits, target), per_pixel.mean())


@pytest.mark.filterwarnings("ignore::UserWarning")  # mmseg's own defaults, outside build_segmentor
def test_unet_head_on_arbitrary_channels(seg_model):
    head = seg_model.UNetDecodeHead(in_channels=[8, 16, 24, 40], channels=4, num_classes=2, out_channels=2)
    maps = [torch.randn(3, c, 48 // s, 40 // s) for c, s in zip([8, 16, 24, 40], (4, 8, 16, 32))]
    assert tuple(head(maps).shape) == (3, 2, 48, 40)
    assert [stage[1].conv.out_channels for stage in head.stages] == [16, 8, 4]


def test_training_steps_reduce_loss(seg_model):
    split = toy_split(8, 32, seed=0)
    images = torch.from_numpy(split.images).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    masks = torch.from_numpy(split.masks[:, 2]).long()
    segmentor = seg_model.build_segmentor(encoder("resnet"), input_size=32)
    optimizer = torch.optim.AdamW(segmentor.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss, parts = segmentor.parse_losses(segmentor.loss(images, seg_model.data_samples(32, masks)))
        assert {"decode.loss_ce", "decode.loss_dice"} <= set(parts)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


@pytest.mark.parametrize("arch", ["resnet", "vit"])
def test_sliding_window_equals_whole_when_image_fits_one_window(seg_model, arch):
    from mmengine.config import ConfigDict

    segmentor = seg_model.build_segmentor(encoder(arch), input_size=32).eval()
    images = torch.randn(2, 3, 32, 32)
    shapes = [(32, 32), (48, 40)]
    with torch.no_grad():
        whole = segmentor.predict(images, seg_model.data_samples(32, ori_shapes=shapes))
        segmentor.test_cfg = ConfigDict(mode="slide", crop_size=(32, 32), stride=(16, 16))
        slide = segmentor.predict(images, seg_model.data_samples(32, ori_shapes=shapes))
    for a, b, shape in zip(whole, slide, shapes):
        assert tuple(a.pred_sem_seg.data.shape) == (1, *shape)
        torch.testing.assert_close(a.seg_logits.data, b.seg_logits.data)


def test_window_smaller_than_image_selects_slide_inference(seg_model):
    segmentor = seg_model.build_segmentor(encoder("vit"), input_size=64, window=32).eval()
    assert segmentor.test_cfg.mode == "slide" and tuple(segmentor.test_cfg.stride) == (16, 16)
    assert tuple(segmentor.backbone.encoder.backbone.patch_embed.img_size) == (32, 32)  # the ViT sees windows
    with torch.no_grad():
        samples = segmentor.predict(torch.randn(1, 3, 64, 64), seg_model.data_samples(64, ori_shapes=[(64, 64)]))
    assert tuple(samples[0].pred_sem_seg.data.shape) == (1, 64, 64)


# --- metrics ---------------------------------------------------------------------------


def test_dsc_iou_on_hand_made_masks():
    target = np.zeros((4, 4), bool)
    target[:2, :2] = True  # 4 lesion pixels
    predicted = np.zeros((4, 4), bool)
    predicted[:2, 1:3] = True  # 2 overlap, 2 false positives
    counts = PixelCounts()
    counts.add(predicted, target)
    counts.add(np.zeros((2, 3), bool), np.ones((2, 3), bool))  # a second image: 6 misses
    assert (counts.tp, counts.fp, counts.fn) == (2, 2, 8)
    assert counts.dsc() == pytest.approx(100 * 4 / 14)
    assert counts.iou() == pytest.approx(100 * 2 / 12)
    with pytest.raises(ValueError):
        counts.add(np.zeros((2, 2), bool), np.zeros((3, 3), bool))


def test_lesion_metrics_skip_absent_lesions_and_score_false_alarms_zero():
    perfect = PixelCounts(tp=5)
    false_alarm = PixelCounts(fp=3)
    metrics, warnings = lesion_metrics({"a": perfect, "b": false_alarm, "c": PixelCounts()}, "toy")
    assert metrics == {"dsc/a": 100.0, "iou/a": 100.0, "dsc/b": 0.0, "iou/b": 0.0, "dsc": 50.0, "iou": 50.0}
    assert len(warnings) == 1 and "'c'" in warnings[0]
    metrics, warnings = lesion_metrics({"a": PixelCounts()})
    assert metrics == {} and len(warnings) == 1


# --- data handling ---------------------------------------------------------------------


def test_augment_pair_flips_masks_with_their_images():
    masks = torch.rand(16, 8, 8) > 0.5
    images = (masks.float() * 2 - 1)[:, None].expand(16, 3, 8, 8).contiguous()
    generator = torch.Generator().manual_seed(3)
    out_images, out_masks = augment_pair(images, masks, generator, jitter=0.0)
    torch.testing.assert_close(out_images[:, 0], out_masks.float() * 2 - 1, atol=1e-5, rtol=0)
    assert not torch.equal(out_masks, masks)  # some were flipped


def test_lesion_presence_and_mask_shape_check():
    split = toy_split(5, 16, seed=1)
    presence = lesion_presence(split.masks, 3)
    np.testing.assert_array_equal(presence, split.masks.reshape(5, 3, -1).any(axis=2))
    with pytest.raises(VlpbenchError, match="expected \\(2, H, W\\)"):
        lesion_presence(split.masks, 2, "toy")


@pytest.mark.parametrize("frozen", [True, False])
def test_frozen_encoder_stays_bit_identical_and_strategy_is_never_modified(frozen):
    image_encoder = encoder("resnet")
    before = {k: v.clone() for k, v in image_encoder.state_dict().items()}
    split = toy_split(6, 32, seed=2)
    segmentor = train_segmentor(
        image_encoder, split, np.arange(6), 0, eval_config(freeze_encoder=frozen, steps=2).task["seg"], 0, "test"
    )
    trained = segmentor.backbone.encoder.state_dict()
    unchanged = all(torch.equal(before[k], trained[k]) for k in before)
    assert unchanged == frozen
    assert all(torch.equal(before[k], v) for k, v in image_encoder.state_dict().items())


# --- the task end to end ---------------------------------------------------------------


def test_task_end_to_end_is_seeded_and_skips_absent_lesions():
    train, test = toy_split(12, 32, seed=4), toy_split(6, 32, seed=5)
    test.masks[:, 1] = 0  # soft exudates absent from the test split
    dataset = SegmentationDataset("toy-seg", LESIONS, {"train": train, "test": test})
    task = SegmentationTask(eval_config(steps=3))
    strategy = TinyStrategy(encoder("vit"))
    context = TaskContext(cache_dir=None, checkpoint_hash="x")  # type: ignore[arg-type]
    first = task.evaluate(strategy, dataset, seed=0, fraction=0.5, context=context)
    again = task.evaluate(strategy, dataset, seed=0, fraction=0.5, context=context)
    scored = {"haemorrhages", "hard_exudates"}
    # soft exudates are scored only if the model predicts some (then DSC = IoU = 0)
    assert {f"dsc/{name}" for name in scored} <= set(first.metrics) and {"dsc", "iou"} <= set(first.metrics)
    assert all(0.0 <= value <= 100.0 for value in first.metrics.values())
    assert first.metrics == again.metrics
    if "dsc/soft_exudates" in first.metrics:
        assert first.metrics["dsc/soft_exudates"] == 0.0
    else:
        assert any("soft_exudates" in warning for warning in first.warnings)


# --- protocols: frozen encoder + linear decoder, few-label fine-tune --------------------------


def test_linear_decoder_is_bn_and_one_1x1_conv_on_the_concatenated_maps(seg_model):
    image_encoder = encoder("resnet")
    segmentor = seg_model.build_segmentor(image_encoder, input_size=64, decoder="linear", frozen=True)
    head = segmentor.decode_head
    width = sum(image_encoder.multiscale_channels)
    assert isinstance(head, seg_model.LinearDecodeHead) and head.conv_seg.kernel_size == (1, 1)
    assert head.conv_seg.in_channels == width == head.norm.num_features
    trainable = sum(p.numel() for p in segmentor.parameters() if p.requires_grad)
    assert trainable == 2 * width + (width + 1) * 2  # BN affine + the 1×1 conv to 2 classes: nothing else learns
    assert tuple(segmentor.decode_head(segmentor.extract_feat(torch.randn(2, 3, 64, 64))).shape) == (2, 2, 64, 64)


def test_frozen_linear_protocol_trains_only_the_head():
    image_encoder = encoder("vit")
    before = {k: v.clone() for k, v in image_encoder.state_dict().items()}
    options = eval_config(freeze_encoder=True, decoder="linear", steps=3).task["seg"]
    segmentor = train_segmentor(image_encoder, toy_split(6, 32, 2), np.arange(6), 0, options, 0, "test")
    assert all(torch.equal(before[k], v) for k, v in segmentor.backbone.encoder.state_dict().items())
    assert type(segmentor.decode_head).__name__ == "LinearDecodeHead"


def test_few_label_subsets_are_nested_seeded_and_keep_every_lesion():
    from vlpbench.tasks._sampling import nested_count_indices

    presence = lesion_presence(toy_split(40, 16, seed=7).masks, 3)
    subset = np.arange(40)
    eight, thirty_two = nested_count_indices(presence, subset, 8, 0), nested_count_indices(presence, subset, 32, 0)
    assert len(eight) == 8 and len(thirty_two) == 32 and set(eight) <= set(thirty_two)
    assert presence[eight].any(axis=0).all()
    np.testing.assert_array_equal(eight, nested_count_indices(presence, subset, 8, 0))
    assert not np.array_equal(eight, nested_count_indices(presence, subset, 8, 1))
    np.testing.assert_array_equal(nested_count_indices(presence, subset[:5], 8, 0), subset[:5])  # fewer: all of them
    np.testing.assert_array_equal(nested_count_indices(presence, subset, 0, 0), subset)  # 0: the whole subset


FINE_TUNE = {"freeze_encoder": False, "decoder": "unet"}


@pytest.mark.parametrize("changes, words", [
    ({}, "linear decoder, frozen encoder"),
    (FINE_TUNE, "unet decoder, encoder fine-tuned"),
    ({**FINE_TUNE, "train_images": 4}, "unet decoder, encoder fine-tuned, 4 training images"),
])
def test_task_records_its_protocol(changes, words):
    dataset = SegmentationDataset("toy-seg", LESIONS, {"train": toy_split(10, 32, seed=4), "test": toy_split(4, 32, seed=5)})
    task = SegmentationTask(eval_config(steps=2, **changes))
    result = task.evaluate(TinyStrategy(encoder("resnet")), dataset, seed=0, fraction=1.0,
                           context=TaskContext(cache_dir=None, checkpoint_hash="x"))  # type: ignore[arg-type]
    assert result.extra["protocol"] == words
    assert result.extra["train_images"] == changes.get("train_images", 10)


def test_unknown_decoder_is_a_one_line_error():
    with pytest.raises(VlpbenchError, match="task.seg.decoder.*one of 'unet', 'linear'"):
        resolve_config("smoke", overrides=["task.seg.decoder=mlp"])


# --- the frozen protocol's shared maps (_seg_frozen.py) ----------------------------------------


def test_cached_maps_are_the_encoders_maps_of_each_image_and_its_mirror_image():
    from vlpbench.tasks._seg_frozen import FrozenMaps, encode_maps
    from vlpbench.tasks.seg import new_segmentor

    options = eval_config(freeze_encoder=True, decoder="linear").task["seg"]
    segmentor, _ = new_segmentor(encoder("vit"), options, 0, "test")
    split = toy_split(7, 32, seed=3)
    indices = np.array([5, 0, 3, 6])
    maps = FrozenMaps(segmentor, split.images, indices, 32, batch_size=3, device="cpu")
    assert maps.cache is not None
    flip = torch.tensor([True, False])
    cached = maps.maps(np.array([2, 0]), flip)
    mirrored = torch.from_numpy(split.images[[3, 5]][:, :, ::-1].copy())  # image 3 mirrored, image 5 as is
    direct = encode_maps(segmentor, mirrored.numpy(), np.array([0]), 32, torch.zeros(1, dtype=torch.bool), "cpu")
    plain = encode_maps(segmentor, split.images, np.array([5]), 32, torch.zeros(1, dtype=torch.bool), "cpu")
    for level, (got, mirror_level, plain_level) in enumerate(zip(cached, direct, plain)):
        torch.testing.assert_close(got[0], mirror_level[0], msg=f"level {level}")
        torch.testing.assert_close(got[1], plain_level[0], msg=f"level {level}")


def test_frozen_protocol_gives_the_same_numbers_with_and_without_the_cache(monkeypatch):
    from vlpbench.tasks import _seg_frozen

    dataset = SegmentationDataset("toy-seg", LESIONS, {"train": toy_split(10, 32, seed=4), "test": toy_split(5, 32, seed=5)})
    task = SegmentationTask(eval_config(freeze_encoder=True, decoder="linear", steps=6))
    context = TaskContext(cache_dir=None, checkpoint_hash="x")  # type: ignore[arg-type]
    strategy = TinyStrategy(encoder("vit"))
    cached = task.evaluate(strategy, dataset, seed=1, fraction=1.0, context=context).metrics
    monkeypatch.setattr(_seg_frozen, "CACHE_BYTES", 0)  # every batch encoded again
    encoded = task.evaluate(strategy, dataset, seed=1, fraction=1.0, context=context).metrics
    assert cached.keys() == encoded.keys() and cached["dsc"] > 0
    assert all(cached[key] == pytest.approx(encoded[key], abs=1e-6) for key in cached)
