"""`seg` with a frozen encoder (M-FLAG §3.2): only the decode heads train, so the encoder's maps
of the training images (and of their mirror images) are computed once per record and shared by
every lesion's head, and the maps of each test batch once for all lesion heads.

Augmentation is the horizontal flip alone (colour jitter would change the maps), drawn per batch
from the same seeded stream for every strategy. Cached maps give the numbers re-encoding every
batch would give: the frozen encoder is deterministic in eval mode (tested)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from vlpbench.datasets.base import ImageSource, SegmentationSplit
from vlpbench.encoders.preprocessing import load_batch
from vlpbench.encoders.towers import SEG_STRIDES
from vlpbench.tasks._sampling import step_batches
from vlpbench.tasks._seg_metrics import PixelCounts

if TYPE_CHECKING:
    from mmseg.models.segmentors import EncoderDecoder

#: the training maps are cached when they fit in this many bytes, else encoded again per batch
CACHE_BYTES = 2 * 2**30


class FrozenMaps:
    """The frozen encoder's multi-scale maps of images `indices` of `images` at `size` px, each
    image as is or mirrored: `maps(positions, flip)` for positions into `indices`."""

    def __init__(self, segmentor: "EncoderDecoder", images: ImageSource, indices: np.ndarray, size: int,
                 batch_size: int, device: str) -> None:
        self.segmentor, self.images, self.indices, self.size, self.device = segmentor, images, indices, size, device
        channels = segmentor.backbone.out_channels
        per_image = 2 * 4 * sum(c * (size // stride) ** 2 for c, stride in zip(channels, SEG_STRIDES))
        self.cache: tuple[list[torch.Tensor], list[torch.Tensor]] | None = None
        if per_image * len(indices) <= CACHE_BYTES:
            chunks = [np.arange(start, min(start + batch_size, len(indices))) for start in range(0, len(indices), batch_size)]
            plain = [self.encode(chunk, torch.zeros(len(chunk), dtype=torch.bool)) for chunk in chunks]
            mirrored = [self.encode(chunk, torch.ones(len(chunk), dtype=torch.bool)) for chunk in chunks]
            self.cache = ([torch.cat(level) for level in zip(*plain)], [torch.cat(level) for level in zip(*mirrored)])

    def encode(self, positions: np.ndarray, flip: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Run the encoder on the images at `positions`, mirrored where `flip`."""
        return encode_maps(self.segmentor, self.images, self.indices[positions], self.size, flip, self.device)

    def maps(self, positions: np.ndarray, flip: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The maps of the images at `positions`, mirrored where `flip`."""
        if self.cache is None:
            return self.encode(positions, flip)
        where = flip.to(self.device)[:, None, None, None]
        return tuple(torch.where(where, mirrored[positions], plain[positions]) for plain, mirrored in zip(*self.cache))


@torch.no_grad()
def encode_maps(
    segmentor: "EncoderDecoder", images: ImageSource, indices: np.ndarray, size: int, flip: torch.Tensor, device: str,
) -> tuple[torch.Tensor, ...]:
    """`segmentor`'s (frozen) backbone maps of images `indices` at `size` px, mirrored where `flip`."""
    batch = load_batch(images, indices, size)
    batch = torch.where(flip[:, None, None, None], batch.flip(-1), batch)
    return tuple(segmentor.extract_feat(batch.to(device)))


def train_head(
    segmentor: "EncoderDecoder", maps: FrozenMaps, masks: torch.Tensor, steps: int, batch_size: int, lr: float,
    generator: torch.Generator, device: str,
) -> "EncoderDecoder":
    """Train `segmentor`'s decode head on `maps` for lesion masks (N, size, size) of the same
    images: `steps` AdamW steps at `lr`, batches of `batch_size` and flips drawn from `generator`."""
    from vlpbench.tasks._seg_model import data_samples  # noqa: PLC0415 — imports mmseg, which needs the mmcv compat module installed first

    head = segmentor.decode_head
    optimizer = torch.optim.AdamW([p for p in head.parameters() if p.requires_grad], lr=lr)
    segmentor.train()
    for batch in step_batches(len(masks), batch_size, steps, generator):
        positions = batch.numpy()
        flip = torch.rand(len(positions), generator=generator) < 0.5
        targets = torch.where(flip[:, None, None], masks[positions].flip(-1), masks[positions])
        losses = head.loss(maps.maps(positions, flip), data_samples(maps.size, targets.long().to(device)),
                           segmentor.train_cfg)
        loss, _ = segmentor.parse_losses(losses)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return segmentor.eval()


@torch.no_grad()
def test_counts_all_lesions(
    segmentors: list["EncoderDecoder"], split: SegmentationSplit, size: int, batch_size: int, device: str,
) -> list[PixelCounts]:
    """TP/FP/FN pixels of every lesion's head over the whole split: each test batch is encoded
    once, and every head's prediction is resized to each mask's own size (mmseg post-processing)."""
    from vlpbench.tasks._seg_model import data_samples  # noqa: PLC0415 — imports mmseg, which needs the mmcv compat module installed first

    counts = [PixelCounts() for _ in segmentors]
    indices = np.arange(len(split.images))
    for start in range(0, len(indices), batch_size):
        chunk = indices[start:start + batch_size]
        masks = [np.asarray(split.masks[int(i)]) > 0 for i in chunk]
        maps = encode_maps(segmentors[0], split.images, chunk, size, torch.zeros(len(chunk), dtype=torch.bool), device)
        for lesion, segmentor in enumerate(segmentors):
            samples = data_samples(size, ori_shapes=[mask.shape[-2:] for mask in masks])
            logits = segmentor.decode_head.predict(maps, [sample.metainfo for sample in samples], segmentor.test_cfg)
            for sample, mask in zip(segmentor.postprocess_result(logits, samples), masks):
                counts[lesion].add(sample.pred_sem_seg.data[0].bool().cpu().numpy(), mask[lesion])
    return counts
