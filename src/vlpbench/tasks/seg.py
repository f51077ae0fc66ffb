"""`seg`: per-lesion binary segmentation with MMSegmentation (ViLReF §IV-F, M-FLAG §3.2).

For every lesion type a fresh mmseg `EncoderDecoder` — a copy of the pretrained image encoder
as backbone (four maps at strides 4/8/16/32) + a decoder — is trained for `task.seg.steps`
AdamW steps on a nested `fraction` of the training split. Test predictions are resized back to
each mask's size (mmseg post-processing); DSC and IoU come from pixel counts summed over the
whole test split. Protocols, all options of this task (stored in each record's config, and
named in its `extra.protocol`):

- frozen encoder + linear decoder (the quick default: of the protocols measured on the
  synthetic data, the one whose DSC rises with pretraining, README "Segmentation protocols"):
  `freeze_encoder=true` (M-FLAG) with `decoder=linear`, a BatchNorm + 1 × 1 convolution on the
  concatenated multi-scale maps (`_seg_model.LinearDecodeHead`); the maps are computed once per
  record and shared by the lesions' heads (`_seg_frozen.py`), augmentation is the flip alone;
- full fine-tune (the paper profile): U-Net decoder with skip connections, encoder trained
  jointly (ViLReF): `freeze_encoder=false`, `decoder=unet`;
- few-label fine-tune: `train_images=8` or `32`, a nested seeded subset of the training images
  with every lesion type present (`_sampling.nested_count_indices`).

A hand-crafted reference row (`Strategy.hand_crafted`) has no encoder: each lesion gets a
per-pixel logistic regression on its `pixel_features`, thresholded on the validation split
(`_seg_pixels.py`), scored with the same pooled DSC/IoU.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from vlpbench.core.checks import at_least, image_side, multiple_of, one_of, positive
from vlpbench.core.config import RunConfig
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import PluginInfo, register_task
from vlpbench.core.seeding import copy_generator, derived_seed, seed_generator, seeded
from vlpbench.datasets.base import Dataset, MaskSource, SegmentationSplit
from vlpbench.encoders.preprocessing import augment, load_batch
from vlpbench.encoders.towers import ImageEncoder
from vlpbench.strategies.base import Strategy
from vlpbench.tasks._sampling import nested_count_indices, nested_fraction_indices, step_batches
from vlpbench.tasks._seg_metrics import PixelCounts, lesion_metrics
from vlpbench.tasks._seg_pixels import pixel_classifier_counts
from vlpbench.tasks.base import Task, TaskContext, TaskResult

if TYPE_CHECKING:
    from mmseg.models.segmentors import EncoderDecoder

#: test images per `predict` call are capped so that their full-size logits stay near this many pixels
PREDICT_PIXEL_BUDGET = 2**24


@dataclass
class SegOptions:
    """Quick-profile budget that learns on CPU; the paper profile uses 512 px, 2,000 steps, lr 1e-4."""

    # the decoder classifies at stride 4 and upsamples ×4: a side must be a multiple of 4
    image_size: int = field(default=64, metadata=image_side(multiple_of(4)))
    # the frozen linear head: clip Avg DSC 17.0 at 400 steps, 19.0 at 1,000 (README "Segmentation protocols")
    steps: int = field(default=400, metadata=at_least(1))
    batch_size: int = field(default=8, metadata=at_least(1))
    lr: float = field(default=3e-3, metadata=positive)
    channels: int = field(default=16, metadata=at_least(1))  # U-Net decoder widths: ×1/×2/×4 at strides 4/8/16
    lesion_weight: float = field(default=30.0, metadata=positive)  # cross-entropy weight of lesion pixels (~1 % of a fundus)
    freeze_encoder: bool = True
    decoder: str = field(default="linear", metadata=one_of("unet", "linear"))  # linear: BN + 1×1 conv on the concatenated maps
    train_images: int = field(default=0, metadata=at_least(0))  # few-label protocol: this many training images (0 = the whole fraction)
    window: int = field(default=0, metadata=image_side(multiple_of(4, zero=True)))  # 0 = whole-image inference, else sliding-window crop size


@register_task(
    "seg",
    description="Per-lesion binary segmentation in MMSegmentation: frozen encoder + linear head (paper: fine-tuned U-Net); DSC, IoU",
    info=PluginInfo(
        title="Lesion segmentation", order=40, reference="ViLReF §IV-F; M-FLAG §3.2",
        default_datasets=("syn-idrid", "syn-retinal-lesions", "syn-fgadr"), cost=8.0,
        profiles={"smoke": {"image_size": 32, "steps": 3, "batch_size": 8},
                  "paper": {"image_size": 512, "window": 512, "steps": 2000, "batch_size": 8, "lr": 1e-4,
                            "channels": 64, "lesion_weight": 1.0, "freeze_encoder": False, "decoder": "unet"}},
    ),
)
class SegmentationTask(Task):
    """One binary mmseg model per lesion type and seed; metrics `dsc/<lesion>`, `iou/<lesion>`,
    and their means `dsc`, `iou` (percent)."""

    accepts = ("segmentation",)
    uses_fractions = True
    Options = SegOptions

    @classmethod
    def image_size(cls, config: RunConfig) -> int:
        """Segmentation sets load at `task.seg.image_size`."""
        return config.task[cls.registered_name].image_size

    def evaluate(
        self, model: Strategy, dataset: Dataset, seed: int, fraction: float, context: TaskContext
    ) -> TaskResult:
        options, batch_size = self.options, self.config.eval.batch_size
        train, test = dataset.split("train"), dataset.split("test")
        presence = lesion_presence(train.masks, len(dataset.lesion_names), dataset.name)
        subset = nested_count_indices(presence, nested_fraction_indices(presence, fraction, seed), options.train_images, seed)
        if model.hand_crafted:
            counts = pixel_classifier_counts(model, dataset, subset, options.image_size, batch_size, seed, context.device)
        elif options.freeze_encoder and not 0 < options.window < options.image_size:
            counts = frozen_counts(model.image_encoder, dataset, subset, options, batch_size, seed, context.device)
        else:
            counts = {}
            for index, lesion in enumerate(dataset.lesion_names):
                segmentor = train_segmentor(
                    model.image_encoder, train, subset, index, options, seed, f"seg/{lesion}", context.device
                )
                counts[lesion] = test_counts(segmentor, test, index, options, batch_size, context.device)
        metrics, warnings = lesion_metrics(counts, dataset.name)
        extra = {"protocol": protocol(options, model.hand_crafted), "train_images": len(subset)}
        return TaskResult(metrics=metrics, warnings=warnings, extra=extra)


def protocol(options: SegOptions, hand_crafted: bool = False) -> str:
    """The protocol a record was computed with, in words (its settings are in the record's config)."""
    if hand_crafted:
        return "per-pixel logistic regression on fixed features, threshold chosen on val"
    encoder = "frozen encoder" if options.freeze_encoder else "encoder fine-tuned"
    labels = f", {options.train_images} training images" if options.train_images else ""
    return f"{options.decoder} decoder, {encoder}{labels}"


def frozen_counts(
    encoder: ImageEncoder, dataset: Dataset, indices: np.ndarray, options: SegOptions, batch_size: int, seed: int,
    device: str = "cpu",
) -> dict[str, PixelCounts]:
    """The frozen-encoder protocol on whole images: one decode head per lesion, trained on maps
    encoded once for all of them (`_seg_frozen.py`); test pixel counts per lesion."""
    from vlpbench.tasks._seg_frozen import FrozenMaps, test_counts_all_lesions, train_head  # noqa: PLC0415 — imports mmseg, which needs the mmcv compat module installed first

    train, size = dataset.split("train"), options.image_size
    segmentors = []
    for index, lesion in enumerate(dataset.lesion_names):
        segmentor, generator = new_segmentor(encoder, options, seed, f"seg/{lesion}", device)
        if not segmentors:
            maps = FrozenMaps(segmentor, train.images, indices, size, batch_size, device)
        masks = lesion_masks(train, indices, index, size)
        segmentors.append(train_head(segmentor, maps, masks, options.steps, options.batch_size, options.lr, generator, device))
    counts = test_counts_all_lesions(segmentors, dataset.split("test"), size, batch_size, device)
    return dict(zip(dataset.lesion_names, counts))


def lesion_presence(masks: MaskSource, lesions: int, dataset: str = "") -> np.ndarray:
    """(n, L) 0/1: which lesion types each training image contains (fraction strata)."""
    rows = []
    for i in range(len(masks)):
        mask = np.asarray(masks[i])
        if mask.ndim != 3 or mask.shape[0] != lesions:
            raise VlpbenchError(
                f"dataset '{dataset}': mask {i} has shape {mask.shape}, expected ({lesions}, H, W) — "
                "one binary mask per lesion name"
            )
        rows.append(mask.reshape(lesions, -1).any(axis=1))
    return np.asarray(rows, dtype=np.int64).reshape(len(rows), lesions)


def train_segmentor(
    encoder: ImageEncoder, split: SegmentationSplit, indices: np.ndarray, lesion: int,
    options: SegOptions, seed: int, purpose: str, device: str = "cpu",
) -> "EncoderDecoder":
    """Train one binary segmentor on `split` images `indices` for mask channel `lesion`.

    The encoder is deep-copied (the strategy's model is never modified). Head initialisation,
    data order, augmentation and crops all come from (seed, purpose), identically for every strategy.
    """
    from vlpbench.tasks._seg_model import data_samples  # noqa: PLC0415 — imports mmseg, which needs the mmcv compat module installed first

    segmentor, generator = new_segmentor(encoder, options, seed, purpose, device)
    size, window = options.image_size, options.window
    crop = window if 0 < window < size else size
    jitter = 0.0 if options.freeze_encoder else 0.1  # a frozen encoder's protocol augments by flips alone
    optimizer = torch.optim.AdamW([p for p in segmentor.parameters() if p.requires_grad], lr=options.lr)
    segmentor.train()
    for batch in step_batches(len(indices), options.batch_size, options.steps, generator):
        images, masks = training_batch(split, indices[batch.numpy()], lesion, size, crop, generator, jitter)
        losses = segmentor.loss(images.to(device), data_samples(crop, masks.to(device)))
        loss, _ = segmentor.parse_losses(losses)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return segmentor.eval()


def new_segmentor(
    encoder: ImageEncoder, options: SegOptions, seed: int, purpose: str, device: str = "cpu",
) -> tuple["EncoderDecoder", torch.Generator]:
    """A fresh segmentor on a copy of `encoder`, and the generator its training draws from; the
    head's initialisation comes from (seed, purpose), identically for every strategy."""
    from vlpbench.tasks._seg_model import build_segmentor  # noqa: PLC0415 — imports mmseg, which needs the mmcv compat module installed first

    _, generator = seed_generator(seed, purpose)
    with seeded(derived_seed(generator)):  # mmseg/torch inits draw from the global CPU RNG
        segmentor = build_segmentor(
            copy.deepcopy(encoder).cpu(), options.image_size, options.window, frozen=options.freeze_encoder,
            channels=options.channels, lesion_weight=options.lesion_weight, decoder=options.decoder,
        ).to(device)
    return segmentor, generator


def lesion_masks(split: SegmentationSplit, indices: np.ndarray, lesion: int, size: int) -> torch.Tensor:
    """Bool masks (B, size, size) of channel `lesion`, resized by nearest neighbour as mmseg resizes label maps."""
    masks = torch.from_numpy(np.stack([np.asarray(split.masks[int(i)][lesion]) > 0 for i in indices]))
    if masks.shape[-2:] != (size, size):
        masks = F.interpolate(masks[:, None].float(), size=(size, size), mode="nearest")[:, 0] > 0.5
    return masks


def training_batch(
    split: SegmentationSplit, indices: np.ndarray, lesion: int, size: int, crop: int, generator: torch.Generator,
    jitter: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (B, 3, crop, crop) and lesion masks (B, crop, crop): resized to `size`, augmented
    (flips, and colour `jitter`), then randomly cropped."""
    images = load_batch(split.images, indices, size)
    images, masks = augment_pair(images, lesion_masks(split, indices, lesion, size), generator, jitter)
    if crop < size:
        corners = torch.randint(size - crop + 1, (len(indices), 2), generator=generator).tolist()
        images = torch.stack([im[:, y:y + crop, x:x + crop] for im, (y, x) in zip(images, corners)])
        masks = torch.stack([m[y:y + crop, x:x + crop] for m, (y, x) in zip(masks, corners)])
    return images, masks.long()


def augment_pair(
    images: torch.Tensor, masks: torch.Tensor, generator: torch.Generator, jitter: float = 0.1
) -> tuple[torch.Tensor, torch.Tensor]:
    """`transforms.augment` on the images, with the same horizontal flips applied to the masks.
    `augment` draws its flips first, so a copy of the generator state replays them."""
    peek = copy_generator(generator)
    flip = torch.rand(len(images), generator=peek) < 0.5
    images = augment(images, generator, jitter)
    return images, torch.where(flip[:, None, None], masks.flip(-1), masks)


@torch.no_grad()
def test_counts(
    segmentor: "EncoderDecoder", split: SegmentationSplit, lesion: int, options: SegOptions, batch_size: int,
    device: str = "cpu",
) -> PixelCounts:
    """TP/FP/FN pixels of mask channel `lesion` over the whole split, predictions made at
    `task.seg.image_size` (whole image or sliding windows) and resized to each mask's own size."""
    from vlpbench.tasks._seg_model import data_samples  # noqa: PLC0415 — imports mmseg, which needs the mmcv compat module installed first

    size = options.image_size
    counts = PixelCounts()
    start = 0
    while start < len(split.images):
        targets = [np.asarray(split.masks[start][lesion]) > 0]
        chunk = max(1, min(batch_size, PREDICT_PIXEL_BUDGET // targets[0].size))
        stop = min(start + chunk, len(split.images))
        targets += [np.asarray(split.masks[i][lesion]) > 0 for i in range(start + 1, stop)]
        images = load_batch(split.images, range(start, stop), size).to(device)
        samples = segmentor.predict(images, data_samples(size, ori_shapes=[t.shape for t in targets]))
        for sample, target in zip(samples, targets):
            counts.add(sample.pred_sem_seg.data[0].bool().cpu().numpy(), target)
        start = stop
    return counts
