"""Typed run configuration: profiles (smoke, quick, paper) → YAML file → `--set a.b=c` overrides.

Shared sections (encoders, corpus, pretrain, eval) are defined here; each plugin's own options
live in its file (`Options`) and appear as one section per plugin, `strategy.<name>` and
`task.<name>`, resolved through the registry. The resolved config is stored with every
checkpoint and result; cache keys hash only the sections a result depends on. Unknown keys and
ill-typed values are errors naming the key.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import typing
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

import yaml

from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import STRATEGIES, TASKS, Registry


@dataclass
class ImageEncoderConfig:
    """timm image encoder: a ViT built from size fields, a ResNet, or any `timm_name`."""

    arch: str = "vit"  # "vit" | "resnet"
    img_size: int = 32
    patch_size: int = 8
    width: int = 64
    depth: int = 2
    heads: int = 2
    resnet_layers: list[int] = field(default_factory=lambda: [1, 1, 1, 1])
    resnet_channels: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    timm_name: str = ""  # e.g. "vit_base_patch16_224"; overrides the size fields
    weights: str = ""  # local safetensors / .pth / .bin file (read with weights_only=True)


@dataclass
class TextEncoderConfig:
    """transformers text encoder: a small BERT/RoBERTa config, or a local Hugging Face directory."""

    family: str = "bert"  # "bert" | "roberta"
    width: int = 64
    layers: int = 2
    heads: int = 2
    intermediate: int = 128
    max_length: int = 64
    pooling: str = "mean"  # "mean" over content tokens, or "cls" (CN-CLIP / the paper profile)
    tokenizer: str = "terms"  # built-in tokenizer: "terms" (knowledge-base terms whole) or "chars" (one token per character)
    hf_dir: str = ""  # local directory with config.json, weights and tokenizer files
    language: str = "zh"


@dataclass
class EncoderConfig:
    """Both towers plus the shared projection width (identical for every strategy)."""

    image: ImageEncoderConfig = field(default_factory=ImageEncoderConfig)
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    proj_dim: int = 64
    clip_checkpoint: str = ""  # local ChineseCLIPModel directory initialising both towers


@dataclass
class CorpusConfig:
    """The pretraining corpus: synthetic (default) or a manifest of the user's own pairs."""

    name: str = "syn-corpus"
    size: int = 4000
    image_size: int = 32
    normal_share: float = 0.35
    others_share: float = 0.03
    target_mle: float | None = None
    language: str = "zh"
    seed: int = 0  # draws the corpus only; pretraining randomness is `pretrain.seed`
    manifest: str = ""  # CSV/JSONL with image path + report (+ optional label columns)


@dataclass
class PretrainConfig:
    """Optimiser and schedule for every strategy (ViLReF §III-E in the paper profile)."""

    steps: int = 300
    batch_size: int = 128
    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    eps: float = 1e-6
    weight_decay: float = 0.001
    warmup_steps: int = 20
    grad_clip: float = 1.0
    amp: bool = False  # CUDA only; ignored on the CPU
    temperature: float = 0.07
    mlm_steps: int = 150  # masked-language-model warm start of the shared text encoder
    mlm_lr: float = 1e-3
    log_every: int = 1
    seed: int = 0  # initial weights, data order and augmentation stream (the corpus has its own seed)
    site_augment: float = 1.0  # strength of the acquisition-site augmentation (0 = ViLReF's flip + jitter only)


@dataclass
class EvalConfig:
    """Downstream protocol shared by every task (seed k draws identically for every strategy);
    each task's own settings are its `task.<name>` section."""

    seeds: int = 5
    # pretraining runs behind the seeds: seed k evaluates the checkpoint pretrained with run seed
    # pretrain.seed + (k mod pretrain_seeds); 0 = one pretraining run per seed (every seed covers
    # pretraining *and* downstream randomness); the paper profile sets 1 (one expensive pretraining)
    pretrain_seeds: int = 0
    # extra downstream draws on the first pretraining run, used only to split the variance into
    # its pretraining and downstream parts (not in means or tests)
    downstream_replicates: int = 0
    fractions: list[float] = field(default_factory=lambda: [1.0])
    image_size: int = 32
    dataset_scale: float = 1.0
    data_root: str = ""
    skip_bad_images: bool = False
    batch_size: int = 64


@dataclass
class RunConfig:
    """Everything a `bench run` depends on; `runs_dir`/`results_dir`/`device` are not hashed."""

    profile: str = "quick"
    encoders: EncoderConfig = field(default_factory=EncoderConfig)
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    strategy: dict[str, Any] = field(default_factory=dict)  # name → that strategy's Options
    task: dict[str, Any] = field(default_factory=dict)  # name → that task's Options
    runs_dir: str = "runs"
    results_dir: str = "results"
    device: str = "auto"
    threads: int = 0  # torch intra-op threads; 0 = torch default (1 per worker when workers > 1)
    workers: int = 1  # grid processes on this machine (`bench run --workers`)


UNHASHED = ("runs_dir", "results_dir", "device", "threads", "workers")

#: Shared-section defaults per profile; a plugin's own per-profile overrides are in its metadata.
PROFILES: dict[str, dict[str, Any]] = {
    "smoke": {
        "encoders": {
            "image": {"img_size": 32, "patch_size": 8, "width": 32, "depth": 1, "heads": 2},
            "text": {"width": 32, "layers": 1, "heads": 2, "intermediate": 64, "max_length": 48},
            "proj_dim": 32,
        },
        "corpus": {"size": 256},
        "pretrain": {"steps": 6, "batch_size": 32, "warmup_steps": 2, "mlm_steps": 6},
        "eval": {"seeds": 2, "dataset_scale": 0.15, "batch_size": 32},
    },
    # calibrated (README "What the default measures"): 8×8 ViT tokens at 32 px; reports fit the
    # default 64 tokens (term tokenizer: 99.9 % uncut); site augmentation in pretraining
    "quick": {"encoders": {"image": {"patch_size": 4}}, "eval": {"downstream_replicates": 1}},
    "paper": {
        "encoders": {
            "image": {"timm_name": "vit_base_patch16_224", "img_size": 224, "patch_size": 16},
            "text": {"family": "roberta", "max_length": 100, "pooling": "cls"},
            "proj_dim": 512,
        },
        "corpus": {"image_size": 224},
        "pretrain": {"site_augment": 0.0,
            "steps": 20000, "batch_size": 256, "lr": 3e-5, "betas": [0.9, 0.98], "eps": 1e-6,
            "weight_decay": 0.001, "warmup_steps": 500, "amp": True, "mlm_steps": 0,
        },
        "eval": {"image_size": 224, "pretrain_seeds": 1},
    },
}


def resolve_config(
    profile: str = "quick", config_file: str | Path | None = None, overrides: list[str] | None = None
) -> RunConfig:
    """Profile defaults (shared sections, then every plugin's Options with its profile
    overrides), then the YAML file, then `a.b=c` overrides (values parsed as YAML)."""
    if profile not in PROFILES:
        raise VlpbenchError(f"unknown profile '{profile}' (expected one of: {', '.join(PROFILES)})")
    config = _merge(RunConfig(), PROFILES[profile], "profile " + profile)
    config.profile = profile
    config.strategy = _plugin_defaults(STRATEGIES, profile)
    config.task = _plugin_defaults(TASKS, profile)
    if config_file:
        config = _merge(config, _read_yaml(Path(config_file)), str(config_file))
    for override in overrides or []:
        key, sep, value = override.partition("=")
        if not sep or not key:
            raise VlpbenchError(f"--set '{override}': expected KEY=VALUE such as pretrain.steps=100")
        nested: dict[str, Any] = {}
        cursor = nested
        parts = key.strip().split(".")
        for part in parts[:-1]:
            cursor = cursor.setdefault(part, {})
        cursor[parts[-1]] = yaml.safe_load(value) if value.strip() else ""
        config = _merge(config, nested, f"--set {override}")
    return config


def config_hash(section: Any) -> str:
    """12-hex SHA-256 of a config (or a sub-dict), excluding the unhashed run-location fields."""
    data = asdict(section) if is_dataclass(section) else section
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in UNHASHED}
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


#: eval fields that add cells to a grid rather than change its cells
GRID_EXTENDING = ("seeds", "fractions", "pretrain_seeds", "downstream_replicates")


def grid_hash(config: RunConfig) -> str:
    """Hash that keys a results folder: the shared sections every record depends on (encoders,
    corpus, pretraining, the shared evaluation protocol). Plugin sections are not in it: each
    record carries its own key (`record_key`), so changing one plugin's options recomputes only
    that plugin's records; requested seeds/fractions extend the same grid."""
    data = {key: value for key, value in asdict(config).items() if key not in ("strategy", "task")}
    data["eval"] = {k: v for k, v in data["eval"].items() if k not in GRID_EXTENDING}
    return config_hash(data)


def plugin_options(config: RunConfig, kind: str, name: str) -> dict[str, Any]:
    """The options of one plugin as a plain dict ({} for a plugin without options)."""
    section = getattr(config, kind).get(name)
    return asdict(section) if section is not None else {}


def _plugin_defaults(registry: Registry, profile: str) -> dict[str, Any]:
    return {entry.name: entry.default_options(profile) for entry in registry.entries() if entry.options is not None}


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise VlpbenchError(f"cannot read config file {path}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise VlpbenchError(f"config file {path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise VlpbenchError(f"config file {path}: expected a mapping at the top level")
    return data


def _merge(target: Any, updates: dict[str, Any], source: str, prefix: str = "") -> Any:
    """Return a copy of dataclass `target` with `updates` applied, type-checked per field."""
    known = {f.name: f for f in fields(target)}
    hints = typing.get_type_hints(type(target))
    changes: dict[str, Any] = {}
    for key, value in updates.items():
        name = f"{prefix}{key}"
        if key not in known:
            raise VlpbenchError(
                f"{source}: unknown config key '{name}' (expected one of: {', '.join(known)})"
            )
        current = getattr(target, key)
        if key in PLUGIN_SECTIONS and isinstance(current, dict):
            changes[key] = _merge_plugins(current, value, PLUGIN_SECTIONS[key], source, f"{name}.")
        elif is_dataclass(current):
            if not isinstance(value, dict):
                raise VlpbenchError(f"{source}: '{name}' is a section; expected a mapping")
            changes[key] = _merge(current, value, source, f"{name}.")
        else:
            changes[key] = _coerce(value, hints[key], name, source)
    return dataclasses.replace(target, **changes)


PLUGIN_SECTIONS: dict[str, Registry] = {"strategy": STRATEGIES, "task": TASKS}


def _merge_plugins(current: dict[str, Any], updates: Any, registry: Registry, source: str, prefix: str) -> dict[str, Any]:
    """Apply `{plugin name: {option: value}}` to the per-plugin Options sections."""
    if not isinstance(updates, dict):
        raise VlpbenchError(f"{source}: '{prefix.rstrip('.')}' is a section of {registry.kind} options; expected a mapping")
    merged = dict(current)
    for name, values in updates.items():
        entry = registry.entry(str(name))
        if entry.options is None or name not in merged:
            raise VlpbenchError(f"{source}: {registry.kind} '{name}' has no options ('{prefix}{name}')")
        if not isinstance(values, dict):
            raise VlpbenchError(f"{source}: '{prefix}{name}' is a section; expected a mapping")
        merged[name] = _merge(merged[name], values, source, f"{prefix}{name}.")
    return merged


_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _coerce(value: Any, hint: Any, name: str, source: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        hint = next(arg for arg in args if arg is not type(None))
        origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list:
        if not isinstance(value, list):
            value = [value]
        return [_coerce(item, args[0], name, source) for item in value]
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        return float(value)  # YAML 1.1 reads "3e-3" (no dot) as a string
    if hint is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise VlpbenchError(
            f"{source}: '{name}' expects {hint.__name__}, got {type(value).__name__} {value!r}"
        )
    return value
