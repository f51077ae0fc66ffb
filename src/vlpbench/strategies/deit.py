"""DeiT: a ViT student with a distillation token, taught by a frozen CLIP-trained ResNet
(Touvron et al., 2021), adapted to image–text pretraining; and that teacher, `clip-resnet`.

Student (N = global batch, v = the student's projected texts, s = its logit scale 1/τ):
  cls, dist = tokens 0 and 1 of the distilled ViT (`backbone.forward_features`); with a
  patch-token pool (`encoders.image.pool` avg or max) cls is that shared pooled feature instead;
  base_logits = s · norm(proj(cls)) norm(v)ᵀ,  dist_logits = s · norm(dist_proj(dist)) norm(v)ᵀ;
  teacher_logits = s_T · norm(teacher image) norm(teacher text)ᵀ over the same N reports,
  from the teacher's own towers and projections (frozen, eval mode, no gradient).
  loss = (1 − α) · clip_loss(proj(cls), v, s) + α · distill(dist_logits, teacher_logits)
with α = `strategy.deit.alpha` and distill = hard (CE to the teacher's row argmax) or soft
(τ_d² · KL, τ_d = `strategy.deit.tau`) per `strategy.deit.kind`. The class-token term is
the symmetric CLIP loss rather than DeiT's one-directional CE so that, with α = 0, the student
is trained exactly like `clip`; the distillation term is image→text only, as the teacher's
"classes" for an image are the batch's reports. It is `deit_distill_loss` with α = 1, whose
(1 − α)·CE(base_logits) part then vanishes; the α weighting is applied here.

Evaluation: `image_features` are the shared pooled features (timm's (cls + dist) / 2, DeiT
inference, under the default pool); zero-shot
averages the two heads' cosine logits, i.e. embeds images as norm(norm(proj(cls)) +
norm(dist_proj(dist))).

Teacher: `clip-resnet` is `clip` with the image tower replaced by a ResNet built from
`encoders.image.resnet_layers` / `resnet_channels` (`timm_name` and `weights` cleared, since
they describe the ViT), at output stride `strategy.clip-resnet.output_stride` (timm's dilated
last stages): at 8 a 32 px image keeps a 4 × 4 map for the global pool instead of one cell, and
the teacher learns the findings (at 32, 4 of the 5 published runs stayed at chance on the probe). The student fetches it lazily with `context.pretrained("clip-resnet")`
on its first training step (evaluation never needs it) and keeps it in a plain list, so it is
neither a submodule, nor optimised, nor in the student's state_dict.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from vlpbench.core.checks import between, one_of, positive
from vlpbench.core.config import EncoderConfig
from vlpbench.core.distributed import gather_no_grad, gather_with_grad
from vlpbench.core.registry import PluginInfo, register_strategy
from vlpbench.encoders.towers import ImageEncoder, build_image_encoder
from vlpbench.strategies.base import Batch, DualEncoderStrategy, StrategyContext
from vlpbench.strategies.clip import Clip
from vlpbench.strategies.losses import clip_loss, deit_distill_loss

TEACHER = "clip-resnet"
DISTILL_KINDS = ("hard", "soft")


@dataclass
class DeitOptions:
    """Distillation weight α (0.5), kind ("hard": CE to the teacher's argmax; "soft": τ²·KL) and τ."""

    alpha: float = field(default=0.5, metadata=between(0.0, 1.0))
    kind: str = field(default="hard", metadata=one_of(*DISTILL_KINDS))
    tau: float = field(default=1.0, metadata=positive)


def teacher_encoders(encoders: EncoderConfig) -> EncoderConfig:
    """The configured encoders with a ResNet image tower (the ViT's timm_name/weights dropped)."""
    image = dataclasses.replace(encoders.image, arch="resnet", timm_name="", weights="")
    return dataclasses.replace(encoders, image=image)


@dataclass
class ClipResNetOptions:
    """The ResNet's output stride (8: stages 3 and 4 dilated, as DeepLab; 32: the plain ResNet, the
    paper profile's at 224 px)."""

    output_stride: int = field(default=8, metadata=one_of(8, 16, 32))


@register_strategy(
    TEACHER,
    description="CLIP with a ResNet image encoder: the frozen teacher DeiT distils from",
    info=PluginInfo(title="CLIP (ResNet teacher)", order=25, reference="Radford et al. 2021; teacher of Touvron et al. 2021 (DeiT)",
                    tags=("teacher",), profiles={"paper": {"output_stride": 32}}),
)
class ClipResNet(Clip):
    """`clip` whose image tower is a ResNet (its config's encoders say so)."""

    Options = ClipResNetOptions

    def __init__(self, context: StrategyContext) -> None:
        config = dataclasses.replace(context.config, encoders=teacher_encoders(context.config.encoders))
        super().__init__(dataclasses.replace(context, config=config))

    def build_image_encoder(self) -> ImageEncoder:
        """The ResNet at the configured output stride."""
        return build_image_encoder(self.config.encoders, output_stride=self.options.output_stride)


@register_strategy(
    "deit",
    description="ViT + distillation token: CLIP loss on the class token (or the shared pool), dist token distils clip-resnet's image→text logits",
    info=PluginInfo(title="DeiT", order=30, reference="Touvron et al. 2021 (DeiT)",
                    bibtex="@inproceedings{touvron2021deit, title={Training data-efficient image transformers & distillation "
                           "through attention}, author={Touvron, Hugo and others}, booktitle={ICML}, year={2021}}"),
)
class Deit(DualEncoderStrategy):
    """Distilled ViT student, shared text tower, learnable temperature; teacher `clip-resnet`."""

    requires = (TEACHER,)
    Options = DeitOptions

    def __init__(self, context: StrategyContext) -> None:
        super().__init__(context)
        self.dist_proj = nn.Linear(self.image_encoder.feature_dim, self.config.encoders.proj_dim, bias=False)
        self._teacher: list[DualEncoderStrategy] = []  # a plain list: not a submodule

    def build_image_encoder(self) -> ImageEncoder:
        """A DeiT-style ViT with a distillation token."""
        return build_image_encoder(self.config.encoders, distilled=True)

    def teacher(self, device: torch.device) -> DualEncoderStrategy:
        """The frozen `clip-resnet` model (fetched once), in eval mode on `device`."""
        if not self._teacher:
            teacher = self.context.pretrained(TEACHER)
            teacher.requires_grad_(False)
            self._teacher.append(teacher)
        return self._teacher[0].to(device).eval()

    @torch.no_grad()
    def teacher_logits(self, batch: Batch) -> torch.Tensor:
        """Teacher image→text logits over the global batch (N, N)."""
        teacher = self.teacher(batch.images.device)
        image = gather_no_grad(teacher.image_encoder(batch.images))
        text = gather_no_grad(teacher.text_encoder(batch.input_ids, batch.attention_mask))
        return teacher.logit_scale() * F.normalize(image, dim=-1) @ F.normalize(text, dim=-1).T

    def token_embeddings(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Projected class-token and distillation-token embeddings (un-normalised)."""
        tokens = self.image_encoder.backbone.forward_features(images)
        base = self.image_encoder.pool_tokens(tokens) if self.image_encoder.pools_patches else tokens[:, 0]
        return self.image_encoder.proj(base), self.dist_proj(tokens[:, 1])

    def training_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        cls, dist = self.token_embeddings(batch.images)
        cls, dist = gather_with_grad(cls), gather_with_grad(dist)
        text = gather_with_grad(self.text_encoder(batch.input_ids, batch.attention_mask))
        scale = self.logit_scale()
        text_unit = F.normalize(text, dim=-1)
        base_logits = scale * F.normalize(cls, dim=-1) @ text_unit.T
        dist_logits = scale * F.normalize(dist, dim=-1) @ text_unit.T
        targets = torch.arange(text.shape[0], device=text.device)
        distill = deit_distill_loss(
            base_logits, dist_logits, self.teacher_logits(batch), targets,
            alpha=1.0, kind=self.options.kind, tau=self.options.tau,
        )
        clip = clip_loss(cls, text, scale)
        alpha = self.options.alpha
        loss = (1 - alpha) * clip + alpha * distill
        return {"loss": loss, "clip": clip.detach(), "distill": distill.detach(), "logit_scale": scale.detach()}

    def image_embedding(self, images: torch.Tensor) -> torch.Tensor:
        """norm(norm(proj(cls)) + norm(dist_proj(dist))): the mean of the two heads' cosine logits."""
        cls, dist = self.token_embeddings(images)
        return F.normalize(F.normalize(cls, dim=-1) + F.normalize(dist, dim=-1), dim=-1)
