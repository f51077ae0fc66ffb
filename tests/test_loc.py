"""Grad-CAM localisation: the metrics on constructed maps (a map equal to the mask scores 100 %),
the ViT token reshape, and text-guided / probe maps of tiny strategies."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from test_strategies_plugins import make_context
from vlpbench.core.config import resolve_config
from vlpbench.core.registry import STRATEGIES
from vlpbench.tasks._gradcam import ProbeHead, at_input_size, map_grid, probe_maps, target_layer, text_guided_maps
from vlpbench.tasks._loc_metrics import energy_inside, pixel_auc, pointing_hit
from vlpbench.tasks.prompts import class_embeddings


def lesion_mask(size: int = 16) -> np.ndarray:
    mask = np.zeros((size, size), dtype=bool)
    mask[3:6, 9:13] = True
    return mask


def test_a_map_equal_to_the_mask_scores_full_marks():
    mask = lesion_mask()
    heatmap = mask.astype(float)
    assert pointing_hit(heatmap, mask) and energy_inside(heatmap, mask) == 1.0 and pixel_auc(heatmap, mask) == 1.0


def test_an_inverted_map_scores_nothing():
    mask = lesion_mask()
    heatmap = (~mask).astype(float)
    assert not pointing_hit(heatmap, mask) and energy_inside(heatmap, mask) == 0.0 and pixel_auc(heatmap, mask) == 0.0


def test_a_constant_map_scores_chance():
    mask = lesion_mask()
    constant = np.full(mask.shape, 0.3)
    assert energy_inside(constant, mask) == pytest.approx(mask.mean())  # the area share
    assert pixel_auc(constant, mask) == pytest.approx(0.5)
    assert pointing_hit(constant, mask) == bool(mask.flat[0])  # ties: the first pixel


def test_energy_and_pointing_hand_case():
    mask = np.array([[1, 0], [0, 0]], dtype=bool)
    heatmap = np.array([[0.2, 0.6], [0.2, 0.0]])
    assert energy_inside(heatmap, mask) == pytest.approx(0.2)
    assert not pointing_hit(heatmap, mask) and pointing_hit(heatmap, ~mask)
    assert pixel_auc(heatmap, mask) == pytest.approx(np.mean([0.2 > 0.6, 0.5, 0.2 > 0.0]))  # ties count half
    assert np.isnan(pixel_auc(heatmap, np.zeros((2, 2), bool)))


def test_vit_tokens_are_reshaped_onto_the_patch_grid():
    model = STRATEGIES.get("clip")(make_context())
    _, reshape = target_layer(model, 32)
    backbone = model.image_encoder.backbone
    rows, cols = backbone.patch_embed.grid_size
    prefix = backbone.num_prefix_tokens
    tokens = torch.arange(prefix + rows * cols, dtype=torch.float32)[None, :, None].repeat(1, 1, 2)
    grid = reshape(tokens)
    assert grid.shape == (1, 2, rows, cols)
    assert grid[0, 0, 0, 1] == prefix + 1 and grid[0, 0, 1, 0] == prefix + cols  # row-major patches, prefix dropped


@pytest.mark.parametrize("method", ["gradcam", "hirescam"])
def test_a_patch_pooled_vit_maps_its_pooled_tokens(method):
    """With `encoders.image.pool=max` the target is the final LayerNorm (the tokens that are pooled).
    Grad-CAM weights each token's features by the gradient averaged over the tokens; HiResCAM
    multiplies gradient and features token by token, so only tokens holding some channel's maximum
    (the only ones the embedding sees) light up. Either way the peak cell is the manual computation's."""
    from vlpbench.core.config import resolve_config  # noqa: PLC0415

    torch.manual_seed(0)
    model = STRATEGIES.get("clip")(make_context(resolve_config("smoke", overrides=["encoders.image.pool=max"]))).eval()
    backbone = model.image_encoder.backbone
    assert target_layer(model, 32)[0] is backbone.norm
    class_token_model = STRATEGIES.get("clip")(make_context())
    assert target_layer(class_token_model, 32)[0] is class_token_model.image_encoder.backbone.blocks[-1].norm1
    images, prompt = torch.randn(3, 3, 32, 32), torch.nn.functional.normalize(torch.randn(model.image_embedding(torch.zeros(1, 3, 32, 32)).shape[-1]), dim=0)
    maps = text_guided_maps(model, images, prompt.detach(), method=method)
    rows, cols = backbone.patch_embed.grid_size
    for image, heatmap in zip(images, maps):
        tokens = backbone.forward_features(image[None])[0, backbone.num_prefix_tokens:].detach().requires_grad_(True)
        pooled = tokens.amax(0)
        similarity = (torch.nn.functional.normalize(model.image_encoder.proj(pooled), dim=-1) * prompt).sum()
        (gradient,) = torch.autograd.grad(similarity, tokens)
        if method == "gradcam":
            manual = torch.relu(tokens.detach() @ gradient.mean(0))  # channel weights: the mean gradient
        else:
            manual = torch.relu((gradient * tokens.detach()).sum(-1))
            holders = torch.zeros(rows * cols, dtype=torch.bool)
            holders[tokens.detach().argmax(0)] = True
            assert not manual[~holders].any()  # no gradient reaches a token that holds no maximum
        manual = manual.reshape(rows, cols).numpy()
        # the package's post-processing: min–max, bilinear resize to the input, min–max again
        resized = cv2.resize((manual - manual.min()) / (manual.max() - manual.min() + 1e-7), heatmap.shape[::-1])
        np.testing.assert_allclose(heatmap, (resized - resized.min()) / (resized.max() - resized.min() + 1e-7), atol=1e-4)


def plain_resnet_context():
    """clip-resnet as the plain ResNet (output stride 32), whose stages halve the grid each."""
    return make_context(resolve_config("smoke", overrides=["strategy.clip-resnet.output_stride=32"]))


def test_resnet_layer_keeps_a_spatial_grid():
    model = STRATEGIES.get("clip-resnet")(plain_resnet_context())
    backbone = model.image_encoder.backbone
    assert target_layer(model, 32)[0] is backbone.layer2[-1] and target_layer(model, 224)[0] is backbone.layer4[-1]


def test_the_default_teacher_keeps_a_four_by_four_map_of_a_32_px_image():
    """At output stride 8 (the default) the last stage, which Grad-CAM and the global pool use, has
    4 × 4 cells at 32 px; the plain ResNet's has one."""
    dilated = STRATEGIES.get("clip-resnet")(make_context()).eval()
    plain = STRATEGIES.get("clip-resnet")(plain_resnet_context()).eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert dilated.image_encoder.backbone.forward_features(images).shape[-2:] == (4, 4)
        assert plain.image_encoder.backbone.forward_features(images).shape[-2:] == (1, 1)
    assert target_layer(dilated, 32)[0] is dilated.image_encoder.backbone.layer4[-1]


def test_map_grid_of_a_vit_follows_the_side_it_is_drawn_at():
    """Smoke ViT (patch 8): 4 × 4 cells at 32 px; resampled to 128 px, 16 × 16 — on a copy."""
    model = STRATEGIES.get("clip")(make_context()).eval()
    assert map_grid(model, 32) == (4, 4) and at_input_size(model, 32) is model
    resized = at_input_size(model, 128)
    assert map_grid(resized, 128) == (16, 16)
    assert tuple(model.image_encoder.backbone.patch_embed.img_size) == (32, 32)  # the strategy's model untouched
    with torch.no_grad():
        prompt = class_embeddings(resized, [["视网膜出血"]])[0]
    maps = text_guided_maps(resized, torch.randn(2, 3, 128, 128), prompt)
    assert maps.shape == (2, 128, 128)
    # bilinear upsampling of a 16 × 16 grid: 8-px blocks are not constant, and more than 4 × 4 cells' worth of detail
    coarse = torch.nn.functional.interpolate(torch.from_numpy(maps)[:, None].float(), size=(4, 4), mode="area")
    back = torch.nn.functional.interpolate(coarse, size=(128, 128), mode="bilinear", align_corners=False)[:, 0].numpy()
    assert np.abs(maps - back).mean() > 0.01


def test_min_grid_picks_a_finer_resnet_stage():
    model = STRATEGIES.get("clip-resnet")(plain_resnet_context()).eval()
    backbone = model.image_encoder.backbone
    assert map_grid(model, 64) == (4, 4)  # the deepest stage with ≥ 4 cells (MIN_GRID): layer3, stride 16
    assert map_grid(model, 64, min_grid=8) == (8, 8)  # layer2
    assert target_layer(model, 64, min_grid=16)[0] is backbone.layer1[-1] and map_grid(model, 64, min_grid=16) == (16, 16)


def test_loc_records_its_map_grid_and_warns_when_coarser_than_asked(tmp_path):
    from test_seg import LESIONS, toy_split
    from vlpbench.core.config import resolve_config
    from vlpbench.core.registry import TASKS
    from vlpbench.datasets.base import SegmentationDataset
    from vlpbench.tasks.base import TaskContext

    dataset = SegmentationDataset("toy-seg", LESIONS, {"train": toy_split(8, 64, 0), "test": toy_split(4, 64, 1)})
    torch.manual_seed(0)
    for side, grid in ((0, [4, 4]), (64, [8, 8])):
        config = resolve_config("smoke", overrides=[f"task.loc.image_size={side}", "task.loc.min_grid=8"])
        task = TASKS.get("loc")(config)
        assert task.image_size(config) == (side or 32)
        model = STRATEGIES.get("clip")(make_context(config))
        result = task.evaluate(model, dataset, 0, 1.0, TaskContext(tmp_path / "cache", "x"))
        assert result.extra["grid"] == grid and result.extra["image_size"] == (side or 32)
        assert bool(result.warnings) == (grid[0] < 8) and set(result.metrics) == {"pointing", "energy", "auc"}


@pytest.mark.parametrize("name", ["clip", "clip-resnet", "deit"])
def test_text_guided_maps_follow_the_prompt(name):
    torch.manual_seed(0)
    model = STRATEGIES.get(name)(make_context()).eval()
    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        prompts = class_embeddings(model, [["视网膜出血"], ["硬性渗出"]])
    first, second = text_guided_maps(model, images, prompts[0]), text_guided_maps(model, images, prompts[1])
    assert first.shape == (3, 32, 32) and first.min() >= 0 and first.max() <= 1
    assert not np.allclose(first, second)  # the map depends on the words


def test_probe_maps_for_an_image_only_strategy():
    torch.manual_seed(0)
    model = STRATEGIES.get("mae")(make_context()).eval()
    images = torch.randn(2, 3, 32, 32)
    dim = model.image_encoder.feature_dim
    rng = np.random.default_rng(0)
    maps = probe_maps(ProbeHead(model, rng.normal(size=(1, dim)), np.zeros(1)), model, images, 0)
    flipped = probe_maps(ProbeHead(model, -rng.normal(size=(1, dim)), np.zeros(1)), model, images, 0)
    assert maps.shape == (2, 32, 32) and not np.allclose(maps, flipped)


def test_bench_plot_gradcam_draws_fig3_and_names_bad_lesions(tmp_path, capsys):
    from vlpbench.app.cli import main

    common = ["--dataset", "syn-idrid", "--profile", "smoke", "--runs", str(tmp_path / "runs")]
    out = tmp_path / "gradcam.png"
    assert main(["plot", "gradcam", "--strategy", "clip,mae", "--lesion", "hemorrhage", "--images", "0,1", "--out", str(out), *common]) == 0
    assert out.stat().st_size > 0
    capsys.readouterr()
    assert main(["plot", "gradcam", "--strategy", "clip", "--lesion", "drusen", *common]) == 2
    assert "--lesion 'drusen' is not a lesion of syn-idrid (has: hemorrhage" in capsys.readouterr().err


@pytest.mark.parametrize("maker, name", [("make_idrid", "idrid"), ("make_fgadr", "fgadr"), ("make_retinal_lesions", "retinal-lesions")])
def test_loc_runs_on_the_real_dataset_loaders(maker, name, tmp_path):
    """The loc task on the public loaders' layouts (IDRiD, FGADR, Retinal-Lesions fixtures): both
    map kinds, metrics in range, chance level recorded."""
    import public_fixtures as fx
    from vlpbench.core.registry import DATASETS, TASKS
    from vlpbench.datasets.base import DatasetOptions
    from vlpbench.tasks.base import TaskContext

    getattr(fx, maker)(tmp_path)
    dataset = DATASETS.get(name)(DatasetOptions(image_size=32, data_root=tmp_path))
    context = make_context()
    task = TASKS.get("loc")(context.config)
    for strategy in ("clip", "mae"):
        torch.manual_seed(0)
        result = task.evaluate(STRATEGIES.get(strategy)(context), dataset, 0, 1.0, TaskContext(tmp_path / "cache", "x"))
        assert result.extra["target"] == ("text" if strategy == "clip" else "probe") and result.extra["cam"] == "hirescam"
        if strategy == "clip":  # a prompt for every lesion: every (image, lesion) pair is scored
            assert set(result.metrics) == {"pointing", "energy", "auc"} and result.extra["pairs"] > 0
        else:  # a probe only for lesions both present and absent in the train split
            assert set(result.metrics) <= {"pointing", "energy", "auc"}
        assert all(0.0 <= value <= 100.0 for value in result.metrics.values())
        assert 0.0 < result.extra["chance"]["pointing"] < 100.0
