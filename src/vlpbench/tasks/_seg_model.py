"""MMSegmentation pieces of the `seg` task (ViLReF §IV-F): a backbone wrapping a vlpbench
ImageEncoder's four multi-scale maps, a U-Net-style decoder head with skip connections or a
linear head on the concatenated maps, and the mmseg `EncoderDecoder` that joins them. Imports
mmseg, so it is imported lazily."""

from __future__ import annotations

import warnings
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from vlpbench.encoders.towers import ImageEncoder
from vlpbench.tasks._mmcv_compat import ensure_mmseg

ensure_mmseg()

with warnings.catch_warnings():  # mmcv-lite lacks the deformable attention op mmseg never uses here
    warnings.filterwarnings("ignore", message=".*MultiScaleDeformableAttention")
    from mmcv.cnn import ConvModule
    from mmengine.config import ConfigDict
    from mmengine.model import BaseModule
    from mmengine.structures import PixelData
    from mmseg.models.decode_heads.decode_head import BaseDecodeHead
    from mmseg.models.segmentors import EncoderDecoder
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample

NUM_CLASSES = 2  # background / lesion: one binary model per lesion type


@MODELS.register_module()
class VlpbenchBackbone(BaseModule):
    """mmseg backbone over a vlpbench `ImageEncoder`: `forward` gives its four maps at strides
    4/8/16/32. `frozen` (M-FLAG §3.2) stops gradients and keeps the encoder in eval mode, so its
    weights and normalisation statistics stay bit-identical. A ViT is resized to `input_size`
    (timm resamples its position embeddings); a ResNet accepts any size."""

    def __init__(self, encoder: ImageEncoder, input_size: int, frozen: bool = False) -> None:
        super().__init__()
        if encoder.arch == "vit" and tuple(encoder.backbone.patch_embed.img_size) != (input_size, input_size):
            encoder.backbone.set_input_size(img_size=(input_size, input_size))
        self.encoder = encoder
        self.frozen = frozen
        self.out_channels = list(encoder.multiscale_channels)
        if frozen:
            encoder.requires_grad_(False)
            encoder.eval()

    def init_weights(self) -> None:
        """The encoder is pretrained: never re-initialised."""

    def train(self, mode: bool = True) -> "VlpbenchBackbone":
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            return tuple(self.encoder.forward_multiscale(images))


@MODELS.register_module()
class UNetDecodeHead(BaseDecodeHead):
    """U-Net decoder (Ronneberger et al. 2015) over four encoder maps, shallow → deep: start from
    the deepest map; at each shallower level upsample to its size, concatenate the skip map and
    apply (3×3 conv-BN-ReLU)×2, halving the width on the way up (U-Net style) down to `channels`
    at stride 4; classify there, then upsample the logits ×4 to the input resolution (the same
    as upsampling the features first, since the 1×1 classifier and bilinear resizing commute)."""

    def __init__(self, in_channels: Sequence[int], channels: int, **kwargs) -> None:
        super().__init__(
            in_channels=list(in_channels), channels=channels, in_index=list(range(len(in_channels))),
            input_transform="multiple_select", **kwargs,
        )
        skips = list(in_channels)[:-1]
        widths = [channels * 2**level for level in range(len(skips))]  # stage output, shallow → deep
        below = widths[1:] + [list(in_channels)[-1]]  # what each stage receives from the deeper level
        self.stages = nn.ModuleList(
            nn.Sequential(
                ConvModule(skips[level] + below[level], widths[level], 3, padding=1,
                           norm_cfg=self.norm_cfg, act_cfg=self.act_cfg),
                ConvModule(widths[level], widths[level], 3, padding=1, norm_cfg=self.norm_cfg, act_cfg=self.act_cfg),
            )
            for level in reversed(range(len(skips)))
        )

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        maps = self._transform_inputs(inputs)
        x = maps[-1]
        for stage, skip in zip(self.stages, reversed(maps[:-1])):
            x = F.interpolate(x, size=skip.shape[2:], mode="bilinear", align_corners=self.align_corners)
            x = stage(torch.cat([x, skip], dim=1))
        return F.interpolate(self.cls_seg(x), scale_factor=4, mode="bilinear", align_corners=self.align_corners)


@MODELS.register_module()
class LinearDecodeHead(BaseDecodeHead):
    """A linear head on the multi-scale features (DINOv2's linear segmentation probe, Oquab et al.
    2023, over all four maps): every map bilinearly resized to the stride-4 map and concatenated,
    BatchNorm, one 1 × 1 convolution to the classes, logits upsampled ×4 to the input. No hidden
    layer, so what it segments must already be linearly readable from the encoder's maps."""

    def __init__(self, in_channels: Sequence[int], **kwargs) -> None:
        super().__init__(
            in_channels=list(in_channels), channels=sum(in_channels), in_index=list(range(len(in_channels))),
            input_transform="resize_concat", **kwargs,
        )
        self.norm = nn.BatchNorm2d(self.channels)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        x = self.norm(self._transform_inputs(inputs))
        return F.interpolate(self.cls_seg(x), scale_factor=4, mode="bilinear", align_corners=self.align_corners)


#: `task.seg.decoder` → the decode head's mmseg type
DECODERS = {"unet": "UNetDecodeHead", "linear": "LinearDecodeHead"}


def build_segmentor(
    encoder: ImageEncoder, input_size: int, window: int = 0, frozen: bool = False,
    channels: int = 16, lesion_weight: float = 1.0, decoder: str = "unet",
) -> EncoderDecoder:
    """mmseg EncoderDecoder: `encoder` (used as is — pass a copy) + a decode head: the U-Net head
    of widths `channels` × 1/2/4 at strides 4/8/16 (`decoder="unet"`) or the linear head on the
    concatenated maps (`decoder="linear"`, `channels` unused); trained with cross-entropy (lesion
    pixels weighted by `lesion_weight` against the ~1 % foreground) + Dice on the lesion channel;
    whole-image inference, or sliding windows of `window` px with stride `window // 2` when
    0 < window < input size."""
    slide = 0 < window < input_size
    widths = {"channels": channels} if decoder == "unet" else {}
    test_cfg = dict(mode="slide", crop_size=(window, window), stride=(window // 2, window // 2)) if slide else dict(mode="whole")
    with warnings.catch_warnings():  # mmseg's own heads still call its deprecated build_loss
        warnings.filterwarnings("ignore", message=".*build_loss")
        segmentor = MODELS.build(dict(
            type="EncoderDecoder",
            backbone=dict(type="VlpbenchBackbone", encoder=encoder, input_size=window if slide else input_size, frozen=frozen),
            decode_head=dict(
                type=DECODERS[decoder], in_channels=encoder.multiscale_channels, **widths,
                num_classes=NUM_CLASSES, out_channels=NUM_CLASSES, dropout_ratio=0.0,
                norm_cfg=dict(type="BN", requires_grad=True), align_corners=False,
                loss_decode=[
                    dict(type="CrossEntropyLoss", use_sigmoid=False, avg_non_ignore=True, loss_weight=1.0,
                         class_weight=[1.0, lesion_weight]),
                    # ignore_index=0 drops the background channel: Dice of the lesion channel only
                    dict(type="DiceLoss", use_sigmoid=False, ignore_index=0, loss_weight=1.0),
                ],
            ),
            test_cfg=ConfigDict(test_cfg),
        ))
    # init_weights() is never called: it would re-initialise a timm encoder, and mmseg's N(0, 0.01)
    # classifier init learns too slowly for short budgets (toy lesion, 40 steps: DSC 0 vs 81 with
    # PyTorch's default init, which every layer keeps)
    return segmentor


def data_samples(
    image_size: int, masks: torch.Tensor | None = None, ori_shapes: Sequence[tuple[int, int]] | None = None,
) -> list[SegDataSample]:
    """SegDataSamples for a batch of `image_size`² inputs: ground truth from 0/1 `masks` (B, H, W)
    for training, or `ori_shapes` (predictions are resized back to each original mask size)."""
    count = len(masks) if masks is not None else len(ori_shapes or ())
    samples = []
    for i in range(count):
        ori_shape = tuple(ori_shapes[i]) if ori_shapes is not None else (image_size, image_size)
        sample = SegDataSample(metainfo=dict(
            img_shape=(image_size, image_size), pad_shape=(image_size, image_size), ori_shape=ori_shape,
            padding_size=[0, 0, 0, 0],
        ))
        if masks is not None:
            sample.gt_sem_seg = PixelData(data=masks[i][None].long())
        samples.append(sample)
    return samples
