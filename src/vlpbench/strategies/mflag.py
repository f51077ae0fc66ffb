"""M-FLAG: a frozen language model, a trainable image encoder + projector, alignment and
orthogonality losses (Liu et al., 2023; /work/shared/papers/M-FLAG.txt §2).

Tensors (M-FLAG Fig. 1 / §2.2):
  z_v = E_V(x_v)  pooled image-backbone features (before any projection), (B, D_v);
  z_t = E_T(x_t)  pooled features of the frozen text backbone (`text.pooling`), (B, D_t);
  z_a = p(z_v)    the trainable projector's output, (B, D_t).
L_total = L_align(z_a, z_t) + L_orth(z_v)                                            (eq 1)
L_align = 2 − 2 cos(z_a, z_t), batch mean                                            (eq 2)
L_orth on z_v, the *backbone* features, not z_a: the paper's eq 3 and its text ("forcing the
empirical correlation matrix of z̄_v to be an identity") and the public code
(`orthogonal_loss(img_emb, img_emb)` on the raw 2048-d ResNet output) agree on that tensor.
Normalisation: `strategy.mflag.normalize=False` (default) feeds raw z_v as the code does;
True L2-normalises each sample first as the paper's text says (see `mflag_orth_loss`).
λ = `strategy.mflag.orth_lambda` (0.0051, the code's value). C is the per-rank batch statistic,
as in the code (one DDP process per GPU, divided by the per-GPU batch size).

Deviations from the public code, following the paper: the code also trains a text-side head
`proj_t` on the frozen [CLS] features and ends both heads with a non-affine BatchNorm; here
the whole text encoder (its projection included) is frozen, z_t is the raw pooled feature and
p(·) = Linear(D_v, D_v)–BN–ReLU–Linear(D_v, D_t). The code also adds eq 2 twice and halves
eq 3; the paper's weights (1, 1) are used.

Zero-shot embeddings live in the text latent space: image → normalize(p(z_v)),
text → normalize(z_t). The text encoder's own `proj` is never used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from vlpbench.core.checks import at_least
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import PluginInfo, register_strategy
from vlpbench.encoders.towers import build_image_encoder
from vlpbench.strategies.base import Batch, Strategy, StrategyContext
from vlpbench.strategies.losses import mflag_align_loss, mflag_orth_loss


@dataclass
class MFlagOptions:
    """λ of L_orth (eq 3; 0.0051 as in M-FLAG's code) and whether z_v is L2-normalised first."""

    orth_lambda: float = field(default=0.0051, metadata=at_least(0.0))
    normalize: bool = False


@dataclass
class MFlagUnfrozenOptions(MFlagOptions):
    """M-FLAG's options and how many of the text model's last layers train with the image side
    (Table 5's Unfreeze_n)."""

    unfreeze_last_n: int = field(default=1, metadata=at_least(1))


MFLAG_BIBTEX = ("@inproceedings{liu2023mflag, title={M-FLAG: Medical Vision-Language Pre-training with Frozen Language "
                           "Models and Latent Space Geometry Optimization}, author={Liu, Che and others}, booktitle={MICCAI}, year={2023}}")
#: the ablation table of M-FLAG Table 4: rows are the variants, check marks the losses they train with
ABLATION_TITLE = "Ablation of M-FLAG (M-FLAG Table 4): align = L_align (eq 2), orth = L_orth (eq 3)"


@register_strategy(
    "mflag",
    description="frozen text encoder; image encoder + projector trained with 2−2cos alignment + orthogonality",
    info=PluginInfo(title="M-FLAG", order=60, reference="Liu et al. 2023 (M-FLAG)", bibtex=MFLAG_BIBTEX,
                    tags=("frozen-text", "ablation:mflag", "ablation:mflag:align", "ablation:mflag:orth"),
                    ablation_title=ABLATION_TITLE, ablation_tasks=("linear-probe", "seg")),
)
class MFlag(Strategy):
    """Trainable image encoder and projector p(·); frozen, always-eval text encoder (but for the
    last `unfreeze_last_n` layers of the `mflag-unfreeze` variant)."""

    Options = MFlagOptions
    use_align = True
    use_orth = True
    unfrozen = 0  # text layers trained with the image side (`mflag-unfreeze`)

    def __init__(self, context: StrategyContext) -> None:
        super().__init__(context)
        self.image_encoder = build_image_encoder(self.config.encoders)
        self.text_encoder = context.build_text_encoder()
        self.text_encoder.requires_grad_(False)
        self.text_encoder.eval()
        image_dim, text_dim = self.image_encoder.feature_dim, self.text_encoder.feature_dim
        self.projector = nn.Sequential(
            nn.Linear(image_dim, image_dim),
            nn.BatchNorm1d(image_dim),
            nn.ReLU(inplace=True),
            nn.Linear(image_dim, text_dim),
        )

    def train(self, mode: bool = True) -> "MFlag":
        """Switch modes as usual, except that the frozen text encoder always stays in eval mode."""
        super().train(mode)
        self.text_encoder.eval()
        return self

    def text_latent(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """z_t: pooled text features, without a graph unless text layers are unfrozen."""
        with torch.set_grad_enabled(self.unfrozen > 0 and torch.is_grad_enabled()):
            return self.text_encoder.forward_features(input_ids, attention_mask)

    def training_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Eq 1 (`use_align`/`use_orth` leave a term out for the Table 4 variants)."""
        z_v = self.image_encoder.forward_features(batch.images)
        z_t = self.text_latent(batch.input_ids, batch.attention_mask)
        align = mflag_align_loss(self.projector(z_v), z_t)
        orth = mflag_orth_loss(z_v, lam=self.options.orth_lambda, normalize=self.options.normalize)
        loss = align * self.use_align + orth * self.use_orth
        return {"loss": loss, "align": align.detach(), "orth": orth.detach()}

    def image_embedding(self, images: torch.Tensor) -> torch.Tensor:
        """normalize(p(z_v)), in the frozen text latent space."""
        return F.normalize(self.projector(self.image_encoder.forward_features(images)), dim=-1)

    @torch.no_grad()
    def text_embedding(self, texts: list[str]) -> torch.Tensor:
        """normalize(z_t) of raw texts."""
        device = next(self.text_encoder.parameters()).device
        ids, mask = self.text_encoder.tokenize(texts)
        return F.normalize(self.text_latent(ids.to(device), mask.to(device)), dim=-1)


@register_strategy(
    "mflag-align", description="M-FLAG ablation: L_align only (Table 4)",
    info=PluginInfo(title="M-FLAG (only L_align)", order=61, reference="M-FLAG Table 4", bibtex=MFLAG_BIBTEX,
                    tags=("frozen-text", "ablation:mflag", "ablation:mflag:align")),
)
class MFlagAlignOnly(MFlag):
    """Eq 2 only: the image side aligns with the frozen text features, no orthogonality."""

    use_orth = False


@register_strategy(
    "mflag-orth", description="M-FLAG ablation: L_orth only (Table 4)",
    info=PluginInfo(title="M-FLAG (only L_orth)", order=62, reference="M-FLAG Table 4", bibtex=MFLAG_BIBTEX,
                    tags=("frozen-text", "ablation:mflag", "ablation:mflag:orth")),
)
class MFlagOrthOnly(MFlag):
    """Eq 3 only: the image backbone is decorrelated; the projector (and zero-shot) stays untrained."""

    use_align = False


@register_strategy(
    "mflag-unfreeze", description="M-FLAG variant: the text model's last n layers train too (Table 5)",
    info=PluginInfo(title="M-FLAG (Unfreeze_n)", order=63, reference="M-FLAG Table 5", bibtex=MFLAG_BIBTEX,
                    tags=("ablation:mflag", "ablation:mflag:align", "ablation:mflag:orth")),
)
class MFlagUnfrozen(MFlag):
    """Eq 1 with the last `unfreeze_last_n` text layers trainable (`strategy.mflag-unfreeze.unfreeze_last_n`)."""

    Options = MFlagUnfrozenOptions

    def __init__(self, context: StrategyContext) -> None:
        super().__init__(context)
        self.unfrozen = self._unfreeze(self.options.unfreeze_last_n)

    def _unfreeze(self, n: int) -> int:
        """Let the last `n` transformer layers of the text model train (M-FLAG Table 5)."""
        layers = self.text_encoder.backbone.encoder.layer
        if n > len(layers):
            raise VlpbenchError(f"strategy.{self.registered_name}.unfreeze_last_n {n}: expected at most the text model's "
                                f"{len(layers)} layers")
        for layer in list(layers)[len(layers) - n:]:
            layer.requires_grad_(True)
        return n
