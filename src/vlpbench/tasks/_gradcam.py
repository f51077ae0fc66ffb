"""Class activation maps of a strategy's image encoder with the maintained `grad-cam` package:
pytorch-grad-cam's `HiResCAM` (Draelos & Carin 2020; the default) or `GradCAM` (Selvaraju et al.
2017, ViLReF's Fig 3). Grad-CAM weights each channel by its gradient averaged over the map, which
for a max-pooled encoder spreads a channel's weight over every token although only its maximum
reaches the embedding; HiResCAM multiplies gradient and activation token by token, so a map is
exactly each token's first-order share of the target (for a pool + linear head, CAM itself).

Text-guided (ViLReF §IV-C 4, Fig 3): the target of image i for a class is the cosine between its
L2-normalised image embedding and the class prompt's L2-normalised text embedding, so the map
shows where the image matches the words. Image-only strategies have no text: their target is the
class logit of a linear probe head fitted on their pooled features (`ProbeHead`).

Target layer: for a ViT that pools its class token, the last transformer block's first LayerNorm
(pytorch-grad-cam's ViT recipe: the final patch tokens get no gradient from a class token); for a
ViT that pools its patch tokens (`encoders.image.pool` avg or max), the final LayerNorm, whose
tokens are the ones pooled, as a CNN's last convolution is for CAM (Zhou et al. 2016): with the
max pool, each channel's gradient reaches the one token holding its maximum, so the map is the
tokens' features weighted by the prompt's direction. Either way its patch tokens are reshaped to
the patch grid (prefix tokens — class, distillation — dropped). For a ResNet the last block of the deepest stage whose map is at least `min_grid`
(default `MIN_GRID`) cells a side at the input size: layer4 (7 × 7) at 224 px as usual, but at
32 px layer4 is 1 × 1 and carries no location, so layer2 (4 × 4) is read. The map's cell grid
is that layer's (`map_grid`): a ViT's patch grid at the side it is evaluated at (`at_input_size`
resamples its position embeddings for a side other than its own). Maps are ReLU'd and min–max
scaled to [0, 1] per image at the input size (the package's own post-processing).
"""

from __future__ import annotations

import copy
from typing import Callable

import numpy as np
import torch
from torch import nn

from vlpbench.strategies.base import Strategy

MIN_GRID = 4
#: `task.loc.cam` → the pytorch-grad-cam class that draws the maps
CAM_METHODS = {"hirescam": "HiResCAM", "gradcam": "GradCAM"}


class ProbeHead(nn.Module):
    """`model.image_features` followed by a fixed linear head (one logit per class)."""

    def __init__(self, model: Strategy, weight: np.ndarray, bias: np.ndarray) -> None:
        super().__init__()
        self.model = model
        self.head = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.head.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
            self.head.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.model.image_features(images))


class ImageEmbedding(nn.Module):
    """`model.image_embedding` as a module (the output text-guided targets compare to a prompt)."""

    def __init__(self, model: Strategy) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model.image_embedding(images)


class PromptSimilarity:
    """Grad-CAM target: cosine of a normalised image embedding with a normalised prompt embedding."""

    def __init__(self, prompt: torch.Tensor) -> None:
        self.prompt = prompt

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        return (output * self.prompt.to(output.device)).sum(-1)


def at_input_size(model: Strategy, image_size: int) -> Strategy:
    """`model` itself, or for a timm ViT built for another side a copy resized to `image_size`
    (timm resamples the position embeddings; the strategy's own model is never modified). A
    model without an image encoder (a hand-crafted reference row) is returned as it is."""
    if model.image_encoder is None:
        return model
    backbone = model.image_encoder.backbone
    if not hasattr(backbone, "set_input_size") or tuple(backbone.patch_embed.img_size) == (image_size, image_size):
        return model
    resized = copy.deepcopy(model)
    resized.image_encoder.backbone.set_input_size(img_size=(image_size, image_size))
    return resized


def map_grid(model: Strategy, image_size: int, min_grid: int = MIN_GRID) -> tuple[int, int]:
    """(rows, columns) of the cells of the maps drawn at `image_size`: the target layer's map size,
    read from one forward pass of a blank image."""
    layer, reshape = target_layer(model, image_size, min_grid)
    shapes = []
    handle = layer.register_forward_hook(lambda _m, _i, out: shapes.append(tuple((reshape or (lambda x: x))(out).shape[-2:])))
    try:
        device = next(model.image_encoder.parameters()).device
        with torch.no_grad():
            model.image_features(torch.zeros(1, 3, image_size, image_size, device=device))
    finally:
        handle.remove()
    return shapes[0]


def target_layer(model: Strategy, image_size: int, min_grid: int = MIN_GRID) -> tuple[nn.Module, Callable | None]:
    """The layer Grad-CAM reads at `image_size` and how its activations become (B, C, H, W)."""
    backbone = model.image_encoder.backbone
    if hasattr(backbone, "blocks"):  # timm VisionTransformer
        prefix, grid = backbone.num_prefix_tokens, tuple(backbone.patch_embed.grid_size)

        def reshape(tokens: torch.Tensor) -> torch.Tensor:
            patches = tokens[:, prefix:, :]
            return patches.reshape(patches.shape[0], *grid, patches.shape[-1]).permute(0, 3, 1, 2)

        return (backbone.norm if model.image_encoder.pools_patches else backbone.blocks[-1].norm1), reshape
    stages = [info for info in backbone.feature_info if info["module"].startswith(("layer", "stages"))]
    usable = [info for info in stages if image_size // info["reduction"] >= min_grid] or stages[:1]
    return backbone.get_submodule(usable[-1]["module"])[-1], None


def class_activation_maps(module: nn.Module, model: Strategy, images: torch.Tensor, targets: list,
                          min_grid: int = MIN_GRID, method: str = "hirescam") -> np.ndarray:
    """(n, H, W) maps in [0, 1] of `module(images)` for one target per image, drawn by `method`
    (a key of `CAM_METHODS`)."""
    import pytorch_grad_cam  # noqa: PLC0415 — heavy (matplotlib, cv2) and only needed when maps are drawn

    layer, reshape = target_layer(model, images.shape[-1], min_grid)
    cam_class = getattr(pytorch_grad_cam, CAM_METHODS[method])
    with torch.enable_grad(), cam_class(model=module, target_layers=[layer], reshape_transform=reshape) as cam:
        return cam(input_tensor=images, targets=targets)


def text_guided_maps(model: Strategy, images: torch.Tensor, prompt: torch.Tensor, min_grid: int = MIN_GRID,
                     method: str = "hirescam") -> np.ndarray:
    """Maps of every image for one prompt embedding (D,)."""
    targets = [PromptSimilarity(prompt)] * len(images)
    return class_activation_maps(ImageEmbedding(model), model, images, targets, min_grid, method)


def probe_maps(head: ProbeHead, model: Strategy, images: torch.Tensor, category: int, min_grid: int = MIN_GRID,
               method: str = "hirescam") -> np.ndarray:
    """Maps of every image for one probe logit."""
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: PLC0415 — see class_activation_maps

    return class_activation_maps(head, model, images, [ClassifierOutputTarget(category)] * len(images), min_grid, method)
