"""`timm:<name>`: any timm image model with a local weights file — the escape hatch for a
backbone no family covers. The file is read in timm's own naming (timm's pretrained files, or
an original release its `checkpoint_filter_fn` converts, e.g. OpenAI-CLIP, DINOv2 or MAE ViTs);
the pixel statistics are the model's timm defaults. Image-only."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import timm
import torch

from vlpbench.core.checks import at_least, file
from vlpbench.core.registry import PluginInfo, register_model
from vlpbench.models.base import ExternalImageEncoder, ExternalModel


@dataclass
class TimmOptions:
    """The weights file and the input size (pixel mean/std: the model's timm defaults)."""

    weights: str = field(default="", metadata=file)
    img_size: int = field(default=224, metadata=at_least(1))


@register_model(
    "timm", description="any timm image model from a local weights file (timm:<model name>)",
    info=PluginInfo(title="timm", order=90, reference="timm (Wightman)", source="the user's weights file",
                    licence="that of the weights used"),
)
class TimmModel(ExternalModel):
    """`timm.create_model(<name>)` without a head; the file through the model's checkpoint filter."""

    Options = TimmOptions
    takes_argument = True
    wrappers = ("state_dict", "model")
    unused = (r"head\..*", r"fc\.(weight|bias)", r"classifier\..*")

    def build(self, state: dict[str, torch.Tensor]) -> None:
        o = self.options
        sized = {"img_size": o.img_size} if "vit" in self.argument or "deit" in self.argument else {}
        backbone = timm.create_model(self.argument, pretrained=False, num_classes=0, **sized)
        config = backbone.pretrained_cfg
        mean, std = tuple(config.get("mean", self.mean)), tuple(config.get("std", self.std))
        self.visual_backbone = self.argument
        self.image_encoder = ExternalImageEncoder(backbone, o.img_size, None, mean, std)

    def convert(self, state: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
        backbone = self.image_encoder.backbone
        release = {k: state.pop(k) for k in [k for k in state if not any(k.startswith(p) for p in ("head.", "fc.", "classifier."))]}
        module = importlib.import_module(type(backbone).__module__)
        convert = getattr(module, "checkpoint_filter_fn", None)
        converted = convert(release, backbone) if convert is not None else release
        return {"image": {f"backbone.{key}": value for key, value in converted.items()}}
