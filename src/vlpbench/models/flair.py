"""FLAIR (Silva-Rodríguez et al., Medical Image Analysis 2025): ResNet-50 + BioClinicalBERT with
linear projection heads, trained on 37 public fundus sets with expert-knowledge text.

Release layout (jusiro/FLAIR, `flair/modeling/model.py`): `torch.save(model.state_dict())` of
`FLAIRModel` — `vision_model.model.*` (torchvision ResNet-50, `fc` = Identity),
`vision_model.projection_head_vision.projection.weight` (2048 → 512, no bias),
`text_model.model.*` (a transformers BertModel with its pooler),
`text_model.projection_head_text.projection.weight` (768 → 512), `logit_scale`.
Images: [0, 1] pixels without mean/std (its `preprocess_image`), 512 px. Text embedding: the
mean over tokens of hidden states 1, 2 and the last, averaged (its `TextModel.forward`).
torchvision's and timm's ResNet-50 share parameter names, so the image tower is timm's."""

from __future__ import annotations

from dataclasses import dataclass, field

import timm
import torch
import transformers
from torch import nn

from vlpbench.core.checks import at_least, each, file, folder
from vlpbench.core.config import TextEncoderConfig
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import PluginInfo, register_model
from vlpbench.encoders.tokenizer import HFTokenizer
from vlpbench.encoders.towers import TextEncoder, trim_padding
from vlpbench.models.base import ExternalImageEncoder, ExternalModel, take


@dataclass
class FlairOptions:
    """The release's weights file, the local BioClinicalBERT folder (config.json + vocabulary:
    its architecture and tokenizer) and the ResNet-50 sizes (smaller only for tests)."""

    weights: str = field(default="", metadata=file)
    text_dir: str = field(default="", metadata=folder)
    img_size: int = field(default=512, metadata=at_least(1))
    proj_dim: int = field(default=512, metadata=at_least(1))
    max_length: int = field(default=77, metadata=at_least(3))
    resnet_layers: list[int] = field(default_factory=lambda: [3, 4, 6, 3], metadata=each(at_least(1), length=4))
    resnet_channels: list[int] = field(default_factory=lambda: [64, 128, 256, 512], metadata=each(at_least(1), length=4))


class FirstLastAverageTextEncoder(TextEncoder):
    """FLAIR's text embedding: hidden states 1, 2 and the last, each averaged over the (padded
    to the batch's longest) tokens, then averaged."""

    def forward_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        input_ids, attention_mask = trim_padding(input_ids, attention_mask)
        states = self.backbone(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True).hidden_states
        return torch.stack([states[1], states[2], states[-1]]).mean(2).mean(0)


@register_model(
    "flair", description="FLAIR ResNet-50 + BioClinicalBERT (English prompts)",
    info=PluginInfo(title="FLAIR", order=20, reference="Silva-Rodríguez et al., Medical Image Analysis 99 (2025)",
                    source="https://github.com/jusiro/FLAIR (flair_resnet.pth, Google Drive link in flair/modeling/constants.py)",
                    licence="see the FLAIR repository (NOTICE) before use"),
)
class Flair(ExternalModel):
    """Both towers of `FLAIRModel`; `logit_scale` and the BERT pooler are unused."""

    Options = FlairOptions
    visual_backbone = "ResNet50"
    has_text_tower = True
    mean = (0.0, 0.0, 0.0)
    std = (1.0, 1.0, 1.0)
    language = "en"
    wrappers = ()
    unused = (r"logit_scale", r"text_model\.model\.pooler\..*", r"text_model\.model\.embeddings\.position_ids")

    def build(self, state: dict[str, torch.Tensor]) -> None:
        o = self.options
        if not o.text_dir:
            raise VlpbenchError(f"model.{self.registered_name}.text_dir is not set: expected a local BioClinicalBERT folder "
                                "(config.json + vocab.txt, e.g. emilyalsentzer/Bio_ClinicalBERT saved with save_pretrained)")
        backbone = timm.create_model("resnet50", pretrained=False, num_classes=0, layers=list(o.resnet_layers),
                                     channels=tuple(o.resnet_channels), stem_width=o.resnet_channels[0])
        proj = nn.Linear(backbone.num_features, o.proj_dim, bias=False)
        self.image_encoder = ExternalImageEncoder(backbone, o.img_size, proj, self.mean, self.std)
        bert = transformers.BertModel(transformers.AutoConfig.from_pretrained(o.text_dir, local_files_only=True), add_pooling_layer=False)
        config = TextEncoderConfig(max_length=o.max_length, language=self.language)
        self.text_encoder = FirstLastAverageTextEncoder(config, o.proj_dim, HFTokenizer(o.text_dir), backbone=bert)

    def convert(self, state: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
        image = {f"backbone.{k}": v for k, v in take(state, "vision_model.model.").items()}
        image |= {f"proj.{k}": v for k, v in take(state, "vision_model.projection_head_vision.projection.").items()}
        text = {f"backbone.{k}": v for k, v in take(state, "text_model.model.", self.unused).items()}
        text |= {f"proj.{k}": v for k, v in take(state, "text_model.projection_head_text.projection.").items()}
        return {"image": image, "text": text}
