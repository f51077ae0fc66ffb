"""External models: released checkpoints evaluated as they are, beside the strategies.

An `ExternalModel` is a `Strategy` that never pretrains: a family file builds its towers (timm
image backbone, transformers text backbone) from its `Options`, maps the release's state-dict
names onto them (`convert`) and declares its preprocessing (pixel mean/std, input size, prompt
language, tokenizer). Tasks evaluate it through the same interface and the same seeded draws as
a strategy; the engine evaluates it under `model_config`, the run config with the model's input
size and prompt language.

Loading rules: safetensors, or `.pth` with `weights_only=True` (`encoders.weights`); every
release tensor is either mapped or declared unused by the family (`unused`), so a checkpoint of
another model fails on its first unknown key with its shape; a tower the map leaves incomplete
fails on its first missing key with the expected shape (unless VLPBENCH_ALLOW_PARTIAL_WEIGHTS=1).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from safetensors.torch import load_file
from timm.models.vision_transformer import checkpoint_filter_fn
from torch import nn

from vlpbench.core.checks import at_least, file
from vlpbench.core.config import ImageEncoderConfig, RunConfig
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.fingerprint import INDEX_NAME, DigestIndex
from vlpbench.core.registry import MODELS, Entry
from vlpbench.encoders.preprocessing import MEAN, STD
from vlpbench.encoders.towers import ImageEncoder
from vlpbench.encoders.weights import load_checked, partial_weights_allowed, read_checkpoint
from vlpbench.strategies.base import Strategy

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
#: a row name: `family` or `family:argument` (the argument a timm model name or a label)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(?::[A-Za-z0-9][A-Za-z0-9_.+-]*)?")


@dataclass(frozen=True)
class Inputs:
    """What a model row is evaluated with: its input side, its prompt language ("" for image-only
    models) and the patch size task image sides must be a multiple of (0: none), with the setting
    or file it comes from (for error messages)."""

    img_size: int
    language: str
    patch_size: int = 0
    patch_source: str = ""


class ExternalImageEncoder(ImageEncoder):
    """An `ImageEncoder` over a release's backbone that first turns vlpbench-normalised images
    into the release's own normalisation (`mean`/`std` of pixels in [0, 1])."""

    def __init__(self, backbone: nn.Module, img_size: int, proj: nn.Module | None,
                 mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        arch = "vit" if hasattr(backbone, "blocks") else "resnet"
        super().__init__(ImageEncoderConfig(arch=arch, img_size=img_size), 1, backbone=backbone)
        self.proj = proj if proj is not None else nn.Identity()
        self.register_buffer("pixel_mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)

    def adapt(self, images: torch.Tensor) -> torch.Tensor:
        return ((images * STD + MEAN) - self.pixel_mean) / self.pixel_std

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        return super().forward_features(self.adapt(images))

    def forward_multiscale(self, images: torch.Tensor) -> list[torch.Tensor]:
        return super().forward_multiscale(self.adapt(images))


@dataclass
class ViTOptions:
    """A released ViT's weights file and its architecture (the release's sizes by default; small
    ones only for tests): what the ViT families share."""

    weights: str = field(default="", metadata=file)
    img_size: int = field(default=224, metadata=at_least(1))
    patch_size: int = field(default=16, metadata=at_least(1))
    embed_dim: int = field(default=1024, metadata=at_least(1))
    depth: int = field(default=24, metadata=at_least(1))
    heads: int = field(default=16, metadata=at_least(1))


class ExternalModel(Strategy):
    """A released checkpoint. Subclasses set the class attributes, `build` and `convert`."""

    pretrains: ClassVar[bool] = False
    #: image-only releases are n/a on tasks that need prompts (ood-zsc); families with a text tower say True
    has_text_tower: ClassVar[bool] = False
    #: pixel normalisation the release was trained with (pixels in [0, 1])
    mean: ClassVar[tuple[float, ...]] = IMAGENET_MEAN
    std: ClassVar[tuple[float, ...]] = IMAGENET_STD
    #: prompt language of the text tower ("" for image-only models)
    language: ClassVar[str] = ""
    #: dict keys a release may wrap its state dict in, tried in order ("model", "teacher", …)
    wrappers: ClassVar[tuple[str, ...]] = ("state_dict", "model")
    #: release tensors the evaluation does not use (regular expressions): decoders, heads, …
    unused: ClassVar[tuple[str, ...]] = ()
    #: the family takes an argument in its row name (`timm:<name>`)
    takes_argument: ClassVar[bool] = False
    #: the "Visual Backbone" column of the ViLReF-style tables (e.g. "ViT-L/16", "ResNet50")
    visual_backbone: ClassVar[str] = ""

    def __init__(self, config: RunConfig, argument: str = "") -> None:
        nn.Module.__init__(self)
        self.config = config
        self.options = config.model.get(self.registered_name)
        self.argument = argument
        self.text_encoder = None
        self.weights_path = self.weights_file()
        state = self.read_release(self.weights_path)
        self.build(state)
        #: per tower: the file and the fraction of the tower's parameters it set (kept in every record)
        self.loaded_fractions = self.load(state, self.weights_path)

    # -- what a family provides ----------------------------------------------------------------
    def weights_file(self) -> Path:
        """The release's weights file: the `weights` option."""
        if not self.options.weights:
            raise VlpbenchError(f"model.{self.registered_name}.weights is not set: expected the release's weights file "
                                f"(--set model.{self.registered_name}.weights=/path/to/file; docs/models.md)")
        return Path(self.options.weights)

    @classmethod
    def inputs(cls, options: Any, argument: str) -> Inputs:
        """Input size, patch size and prompt language of a row, known before it is built: by default
        the `img_size` and `patch_size` options and the family's `language`."""
        name = cls.registered_name
        return Inputs(options.img_size, cls.language, getattr(options, "patch_size", 0), f"model.{name}.patch_size")

    @classmethod
    def files(cls, options: Any, argument: str) -> dict[str, Path]:
        """The user files a row reads, by option name: by default every path option that exists."""
        values = {item.name: getattr(options, item.name) for item in dataclasses.fields(options)}
        return {name: Path(value) for name, value in values.items() if isinstance(value, str) and value and Path(value).exists()}

    def build(self, state: dict[str, torch.Tensor]) -> None:
        """Create `self.image_encoder` (and `self.text_encoder`) with the release's architecture."""
        raise NotImplementedError

    def convert(self, state: dict[str, torch.Tensor]) -> dict[str, dict[str, torch.Tensor]]:
        """The key map: {"image": image-encoder state, "text": text-encoder state}, popping every
        release tensor it uses from `state`."""
        raise NotImplementedError

    @property
    def input_size(self) -> int:
        return self.inputs(self.options, self.argument).img_size

    def describe(self) -> str:
        """The image tower for records and tables, e.g. "ViT-L/16 (1024-d) @224px"."""
        name = self.visual_backbone or type(self.image_encoder.backbone).__name__
        return f"{name} ({self.image_encoder.feature_dim}-d) @{self.input_size}px"

    @property
    def patch_size(self) -> int:
        """Side an input must be a multiple of (a ViT's patch; 32 for a ResNet's deepest map)."""
        backbone = self.image_encoder.backbone
        return backbone.patch_embed.patch_size[0] if hasattr(backbone, "patch_embed") else 1

    # -- loading ------------------------------------------------------------------------------
    def read_release(self, path: Path) -> dict[str, torch.Tensor]:
        """The release's state dict: unwrapped from `wrappers`, without a DDP `module.` prefix."""
        where = f"model.{self.registered_name}.weights {path}"
        if path.suffix == ".safetensors":
            if not path.is_file():
                raise VlpbenchError(f"{where}: file does not exist")
            try:
                state: Any = load_file(str(path))
            except Exception as error:  # safetensors raises several error types for corrupt files
                raise VlpbenchError(f"{where}: not a valid safetensors file ({error})") from None
        else:
            state = read_checkpoint(path)
        for key in self.wrappers:
            if isinstance(state, dict) and isinstance(state.get(key), dict):
                state = state[key]
                break
        if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
            wrapped = sorted(k for k, v in state.items() if isinstance(v, dict)) if isinstance(state, dict) else []
            raise VlpbenchError(f"{where}: expected a mapping of tensor names to tensors, wrapped in one of "
                                f"{list(self.wrappers)} or not at all; found {wrapped or type(state).__name__}")
        state = {key.removeprefix("module."): value for key, value in state.items()}  # DDP-saved releases
        return {key: value.float() if value.is_floating_point() else value for key, value in state.items()}

    def load(self, release: dict[str, torch.Tensor], path: Path) -> list[dict[str, Any]]:
        """Map and load both towers; the fraction of each tower's parameters the file set."""
        where = f"{self.registered_name} weights {path}"
        state = dict(release)
        towers = self.convert(state)
        left = [key for key in state if not any(re.fullmatch(pattern, key) for pattern in self.unused)]
        if left:
            raise VlpbenchError(f"{where}: release tensor '{left[0]}' (shape {tuple(state[left[0]].shape)}) is not in the "
                                f"{self.registered_name} key map ({len(left)} such tensors) — is it a {self.registered_name} checkpoint?")
        loaded = []
        for tower, module in (("image", self.image_encoder), ("text", self.text_encoder)):
            if module is None:
                continue
            fraction = load_checked(module, towers.get(tower, {}), f"{where} ({tower} tower)", strict=not partial_weights_allowed())
            loaded.append({"tower": tower, "file": str(path), "fraction": round(fraction, 4)})
        unused = len(state)
        return [{**entry, "unused_release_tensors": unused} for entry in loaded]


# -- the registry side: names, keys, configs ----------------------------------------------------------
def split_name(name: str) -> tuple[str, str]:
    """`family:argument` → (family, argument)."""
    family, _, argument = name.partition(":")
    return family, argument


def model_entry(name: str) -> Entry:
    """The family entry of a row name, checking the name's form and its argument."""
    if not _NAME.fullmatch(name):
        raise VlpbenchError(f"model name '{name}': expected FAMILY or FAMILY:ARGUMENT (letters, digits, . _ - +)")
    family, argument = split_name(name)
    entry = MODELS.entry(family)
    if argument and not entry.obj.takes_argument:
        raise VlpbenchError(f"model '{name}': family '{family}' takes no ':argument'")
    if not argument and entry.obj.takes_argument:
        raise VlpbenchError(f"model '{name}': family '{family}' needs an argument ('{family}:NAME', docs/models.md)")
    return entry


def is_model(name: str) -> bool:
    return split_name(name)[0] in MODELS.names()


def model_config(config: RunConfig, name: str) -> RunConfig:
    """The run config a model is evaluated under: `eval.image_size` = its input size and the
    text language = its prompt language; a task image side (e.g. `task.seg.image_size`) must
    be a multiple of its patch size."""
    inputs = model_inputs(config, name)
    text = dataclasses.replace(config.encoders.text, language=inputs.language or config.encoders.text.language)
    return dataclasses.replace(config, eval=dataclasses.replace(config.eval, image_size=inputs.img_size),
                               encoders=dataclasses.replace(config.encoders, text=text))


def model_inputs(config: RunConfig, name: str) -> Inputs:
    """A row's `Inputs` (its family's `inputs` for its options and argument)."""
    entry = model_entry(name)
    return entry.obj.inputs(config.model[entry.name], split_name(name)[1])


def build_model(config: RunConfig, name: str) -> ExternalModel:
    entry = model_entry(name)
    model = entry.obj(model_config(config, name), split_name(name)[1])
    model.eval()
    return model


def model_files(config: RunConfig, name: str) -> dict[str, str]:
    """Content digest of every file a model row reads (`files`: a weights file; a tokenizer/config
    folder's files), through the run folder's `DigestIndex` (a stat per unchanged file)."""
    entry = model_entry(name)
    index = DigestIndex.at(Path(config.runs_dir) / INDEX_NAME)
    return {key: index.tree(path) for key, path in entry.obj.files(config.model[entry.name], split_name(name)[1]).items()}


def vit_name(width: int, patch: int) -> str:
    """The "Visual Backbone" name of a ViT: ViT-B/16, ViT-L/14, or ViT-d<width>/<patch>."""
    return f"ViT-{'B' if width == 768 else 'L' if width == 1024 else f'd{width}'}/{patch}"


def take(state: dict[str, torch.Tensor], prefix: str, skip: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """Pop the release tensors under `prefix` (except those matching a `skip` pattern) and
    return them without the prefix."""
    keys = [key for key in state if key.startswith(prefix) and not any(re.fullmatch(p, key) for p in skip)]
    return {key[len(prefix):]: state.pop(key) for key in keys}


def timm_vit_state(release: dict[str, torch.Tensor], backbone: nn.Module) -> dict[str, torch.Tensor]:
    """Release ViT tensors (DINO/MAE/DINOv2/OpenAI-CLIP naming) → the timm backbone's, through
    timm's own `checkpoint_filter_fn` (it also resamples the position embedding to the
    backbone's grid), prefixed `backbone.` for an `ImageEncoder`."""
    converted = checkpoint_filter_fn(dict(release), backbone)
    return {f"backbone.{key}": value for key, value in converted.items()}
