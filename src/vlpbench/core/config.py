"""Typed run configuration: profiles (smoke, quick, paper) → YAML file → `--set a.b=c` overrides.

Shared sections (encoders, corpus, pretrain, eval) are defined here; each plugin's own options
live in its file (`Options`) and appear as one section per plugin, `strategy.<name>`,
`task.<name>` and `model.<name>`, resolved through the registry. The resolved config is stored with every
checkpoint and result; cache keys hash only the sections a result depends on. Unknown keys and
ill-typed values are errors naming the key.

Every field declares its valid range or choices once, next to its definition, in its metadata
(`field(default=300, metadata=at_least(1))`, helpers in `core/checks.py`; plugin `Options`
alike); `validate_config` checks them, every float for finiteness, and the few cross-field rules
(ViT image side ÷ patch size, width ÷ heads, evaluation image size = the tower's) when the config
resolves, before any work. An error names where the value came from (profile, file, `--set`,
command-line option), the key, the value and what was expected.
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

from vlpbench.core.checks import (
    IMAGE_SIDE,
    at_least,
    between,
    each,
    file,
    folder,
    non_finite,
    one_of,
    optional,
    positive,
    rule,
    rule_of,
    sbatch_options,
    slurm_name,
)
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import MODELS, STRATEGIES, TASKS, Registry

#: a seed of a random stream (numpy and torch take it whole)
seed_range = rule(lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**32, "an integer in [0, 2**32)")
#: a packaged knowledge-base language or a knowledge-base YAML file
knowledge_language = rule(lambda v: isinstance(v, str) and (v in ("zh", "en") or v.endswith((".yaml", ".yml"))),
                "'zh', 'en' or a knowledge-base .yaml file")


def _device_test(value: Any) -> bool | str:
    """auto, cpu, cuda, cuda:N or mps, and present on this machine."""
    if not isinstance(value, str):
        return False
    if value in ("auto", "cpu"):
        return True
    import torch  # noqa: PLC0415 — torch is heavy; only a device other than auto/cpu needs it

    try:
        device = torch.device(value)
    except (RuntimeError, ValueError):
        return False
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if not count:
            return "CUDA is not available on this machine"
        return True if device.index is None or device.index < count else f"this machine has {count} CUDA device(s)"
    if device.type == "mps":
        return True if torch.backends.mps.is_available() else "MPS is not available on this machine"
    return device.type == "cpu" and device.index in (None, 0)


@dataclass
class ImageEncoderConfig:
    """timm image encoder: a ViT built from size fields, a ResNet, or any `timm_name`."""

    arch: str = field(default="vit", metadata=one_of("vit", "resnet"))
    img_size: int = field(default=32, metadata=at_least(1))
    patch_size: int = field(default=8, metadata=at_least(1))
    width: int = field(default=64, metadata=at_least(1))
    depth: int = field(default=2, metadata=at_least(1))
    heads: int = field(default=2, metadata=at_least(1))
    resnet_layers: list[int] = field(default_factory=lambda: [1, 1, 1, 1], metadata=each(at_least(1), length=4))
    resnet_channels: list[int] = field(default_factory=lambda: [16, 32, 64, 128], metadata=each(at_least(1), length=4))
    # pooled features: "default" = timm's (a ViT's class token, a ResNet's average), or the
    # average / maximum over the ViT's patch tokens or the ResNet's last map (max: a small
    # finding anywhere in the image is one feature's peak, not 1/64 of its mean)
    pool: str = field(default="default", metadata=one_of("default", "avg", "max"))
    timm_name: str = ""  # e.g. "vit_base_patch16_224"; overrides the size fields
    weights: str = field(default="", metadata=file)  # local safetensors / .pth / .bin file (read with weights_only=True)


@dataclass
class TextEncoderConfig:
    """transformers text encoder: a small BERT/RoBERTa config, or a local Hugging Face directory."""

    family: str = field(default="bert", metadata=one_of("bert", "roberta"))
    width: int = field(default=64, metadata=at_least(1))
    layers: int = field(default=2, metadata=at_least(1))
    heads: int = field(default=2, metadata=at_least(1))
    intermediate: int = field(default=128, metadata=at_least(1))
    max_length: int = field(default=64, metadata=at_least(3))  # [CLS], at least one token, [SEP]
    # "mean" over content tokens, or "cls" (CN-CLIP / the paper profile)
    pooling: str = field(default="mean", metadata=one_of("mean", "cls"))
    # built-in tokenizer: "terms" (knowledge-base terms whole) or "chars" (one token per character)
    tokenizer: str = field(default="terms", metadata=one_of("terms", "chars"))
    hf_dir: str = field(default="", metadata=folder)  # local directory with config.json, weights and tokenizer files
    language: str = field(default="zh", metadata=knowledge_language)


@dataclass
class EncoderConfig:
    """Both towers plus the shared projection width (identical for every strategy)."""

    image: ImageEncoderConfig = field(default_factory=ImageEncoderConfig)
    text: TextEncoderConfig = field(default_factory=TextEncoderConfig)
    proj_dim: int = field(default=64, metadata=at_least(1))
    clip_checkpoint: str = field(default="", metadata=folder)  # local ChineseCLIPModel directory initialising both towers


@dataclass
class CorpusConfig:
    """The pretraining corpus: synthetic (default) or a manifest of the user's own pairs."""

    name: str = "syn-corpus"
    size: int = field(default=4000, metadata=at_least(1))
    image_size: int = field(default=32, metadata=at_least(1))
    normal_share: float = field(default=0.35, metadata=between(0.0, 1.0))
    others_share: float = field(default=0.03, metadata=between(0.0, 1.0))
    target_mle: float | None = field(default=None, metadata=optional(positive))
    language: str = field(default="zh", metadata=knowledge_language)
    seed: int = field(default=0, metadata=seed_range)  # draws the corpus only; pretraining randomness is `pretrain.seed`
    manifest: str = field(default="", metadata=file)  # CSV/JSONL with image path + report (+ optional label columns)


@dataclass
class PretrainConfig:
    """Optimiser and schedule for every strategy (ViLReF §III-E in the paper profile)."""

    steps: int = field(default=300, metadata=at_least(1))
    batch_size: int = field(default=128, metadata=at_least(1))
    lr: float = field(default=1e-3, metadata=positive)
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98], metadata=each(between(0.0, 1.0, high_open=True), length=2))
    eps: float = field(default=1e-6, metadata=positive)
    weight_decay: float = field(default=0.001, metadata=at_least(0.0))
    warmup_steps: int = field(default=20, metadata=at_least(0))
    grad_clip: float = field(default=1.0, metadata=at_least(0.0))  # 0 = no clipping
    amp: bool = False  # CUDA only; ignored on the CPU
    temperature: float = field(default=0.07, metadata=positive)
    mlm_steps: int = field(default=150, metadata=at_least(0))  # masked-language-model warm start of the shared text encoder
    mlm_lr: float = field(default=1e-3, metadata=positive)
    log_every: int = field(default=1, metadata=at_least(1))
    # initial weights, data order and augmentation stream (the corpus has its own seed)
    seed: int = field(default=0, metadata=seed_range)
    # strength of the acquisition-site augmentation (0 = ViLReF's flip + jitter only)
    site_augment: float = field(default=1.0, metadata=at_least(0.0))


@dataclass
class EvalConfig:
    """Downstream protocol shared by every task (seed k draws identically for every strategy);
    each task's own settings are its `task.<name>` section."""

    seeds: int = field(default=5, metadata=at_least(1))
    # pretraining runs behind the seeds: seed k evaluates the checkpoint pretrained with run seed
    # pretrain.seed + (k mod pretrain_seeds); 0 = one pretraining run per seed (every seed covers
    # pretraining *and* downstream randomness); the paper profile sets 1 (one expensive pretraining)
    pretrain_seeds: int = field(default=0, metadata=at_least(0))
    # extra downstream draws on the first pretraining run, used only to split the variance into
    # its pretraining and downstream parts (not in means or tests)
    downstream_replicates: int = field(default=0, metadata=at_least(0))
    fractions: list[float] = field(default_factory=lambda: [1.0], metadata=each(between(0.0, 1.0, low_open=True)))
    image_size: int = field(default=32, metadata=at_least(1))
    dataset_scale: float = field(default=1.0, metadata=positive)
    # synthetic test splits × this once more (train and val unchanged): less test-sampling noise
    # in every (run, dataset) cell at the cost of scoring more images (leaderboards/variance-study.md)
    test_scale: float = field(default=1.0, metadata=positive)
    data_root: str = field(default="", metadata=folder)
    skip_bad_images: bool = False
    batch_size: int = field(default=64, metadata=at_least(1))


@dataclass
class SlurmJobOptions:
    """sbatch options of one kind of job (pretraining or evaluation); null = the `launcher.slurm` value."""

    partition: str | None = field(default=None, metadata=optional(slurm_name()))
    account: str | None = field(default=None, metadata=optional(slurm_name()))
    gpus_per_node: int | None = field(default=None, metadata=optional(at_least(0)))
    cpus_per_task: int | None = field(default=None, metadata=optional(at_least(1)))
    mem_gb: float | None = field(default=None, metadata=optional(at_least(0.0)))  # 0 = the partition's default
    timeout_min: int | None = field(default=None, metadata=optional(at_least(1)))
    extra: dict[str, Any] = field(default_factory=dict, metadata=sbatch_options())  # more sbatch options, added to launcher.slurm.extra


@dataclass
class SlurmConfig:
    """sbatch options of every job `bench run --launcher slurm` submits; `pretrain` and `evaluate`
    override them per kind of job (a pretraining job gets one process per GPU)."""

    partition: str = field(default="", metadata=slurm_name())  # "" = the cluster's default partition
    account: str = field(default="", metadata=slurm_name())
    # null = what the hardware has: 1 when the job's partition has GPU nodes (sinfo), else 0
    gpus_per_node: int | None = field(default=None, metadata=optional(at_least(0)))
    cpus_per_task: int = field(default=8, metadata=at_least(1))
    mem_gb: float = field(default=0.0, metadata=at_least(0.0))  # 0 = the partition's default
    timeout_min: int = field(default=1440, metadata=at_least(1))
    extra: dict[str, Any] = field(default_factory=dict, metadata=sbatch_options())  # more sbatch options, e.g. {qos: high, constraint: a100}
    # shell lines run before the job (module load …, source venv)
    setup: list[str] = field(default_factory=list, metadata=each(rule(lambda v: isinstance(v, str), "a shell line"), non_empty=False))
    pretrain: SlurmJobOptions = field(default_factory=SlurmJobOptions)
    evaluate: SlurmJobOptions = field(default_factory=SlurmJobOptions)


@dataclass
class LauncherConfig:
    """How `bench run` executes the grid's jobs (engine/launchers.py); never part of a hash."""

    kind: str = field(default="local", metadata=one_of("local", "slurm", "debug"))
    # jobs running at once: local = worker processes (0: `workers`), slurm = array elements (0: no cap)
    max_parallel: int = field(default=0, metadata=at_least(0))
    folder: str = field(default="", metadata=folder)  # submitit's pickles and logs ("" = <runs_dir>/launcher)
    # pretraining steps between resume checkpoints (model + optimizer + step), 0 = none
    save_every: int = field(default=500, metadata=at_least(0))
    # processes (data-parallel ranks) of one pretraining job; 0 = one per GPU of a slurm pretraining job, 1 locally
    pretrain_ranks: int = field(default=0, metadata=at_least(0))
    slurm: SlurmConfig = field(default_factory=SlurmConfig)


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
    model: dict[str, Any] = field(default_factory=dict)  # name → that external model family's Options
    runs_dir: str = field(default="runs", metadata=folder)
    results_dir: str = field(default="results", metadata=folder)
    device: str = field(default="auto", metadata=rule(_device_test, "auto, cpu, cuda, cuda:N or mps"))
    # torch intra-op threads; 0 = torch default (1 per worker when workers > 1)
    threads: int = field(default=0, metadata=at_least(0))
    workers: int = field(default=1, metadata=at_least(1))  # grid processes on this machine (`bench run --workers`)
    launcher: LauncherConfig = field(default_factory=LauncherConfig)


UNHASHED = ("runs_dir", "results_dir", "device", "threads", "workers", "launcher")

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
    # default 64 tokens (term tokenizer: 99.9 % uncut); site augmentation in pretraining; the
    # maximum over patch tokens, as findings are small shapes anywhere in the fundus (issue 24);
    # 600 pretraining steps, the knee of leaderboards/variance-study.md (MDD per CPU-hour)
    "quick": {"encoders": {"image": {"patch_size": 4, "pool": "max"}}, "pretrain": {"steps": 600},
              "eval": {"downstream_replicates": 1}},
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
    profile: str = "quick", config_file: str | Path | None = None, overrides: list[str] | None = None,
    arguments: dict[str, tuple[str, Any]] | None = None,
) -> RunConfig:
    """Profile defaults (shared sections, then every plugin's Options with its profile
    overrides), then the YAML file, then `a.b=c` overrides (values parsed as YAML), then
    `arguments`, typed command-line values as {dotted key: (option, value)} such as
    {"eval.seeds": ("--seeds", 3)}. The result is validated (`validate_config`) before it is
    returned; an error names the source of the offending value."""
    if profile not in PROFILES:
        raise VlpbenchError(f"unknown profile '{profile}' (expected one of: {', '.join(PROFILES)})")
    origins: dict[str, str] = {}
    config = _merge(RunConfig(), PROFILES[profile], "profile " + profile, origins=origins)
    config.profile = profile
    config.strategy = _plugin_defaults(STRATEGIES, profile)
    config.task = _plugin_defaults(TASKS, profile)
    config.model = _plugin_defaults(MODELS, profile)
    if config_file:
        config = _merge(config, _read_yaml(Path(config_file)), str(config_file), origins=origins)
    for override in overrides or []:
        key, sep, value = override.partition("=")
        if not sep or not key:
            raise VlpbenchError(f"--set '{override}': expected KEY=VALUE such as pretrain.steps=100")
        try:
            parsed = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError as error:
            raise VlpbenchError(f"--set {override}: the value is not valid YAML ({str(error).splitlines()[0]})") from None
        config = _merge(config, _nested(key.strip(), parsed), f"--set {override}", origins=origins)
    for key, (option, value) in (arguments or {}).items():
        config = _merge(config, _nested(key, value), option, origins=origins)
    validate_config(config, origins, f"profile {profile}")
    return config


def _nested(key: str, value: Any) -> dict[str, Any]:
    """"a.b.c", v → {"a": {"b": {"c": v}}}."""
    nested: dict[str, Any] = {}
    cursor = nested
    parts = key.split(".")
    for part in parts[:-1]:
        cursor = cursor.setdefault(part, {})
    cursor[parts[-1]] = value
    return nested


def validate_config(config: RunConfig, origins: dict[str, str] | None = None, default_origin: str = "config") -> None:
    """Check every field against the rule declared next to it (plugin `Options` included), every
    float for finiteness, then the cross-field rules; the first problem is a one-line error
    "<where the value came from>: <key> <value>: expected <what>". `origins` maps a dotted key
    to the source that set it (profile, file, --set, option)."""
    origins = origins or {}

    def fail(key: str, value: Any, expected: str, source: str | None = None) -> None:
        raise VlpbenchError(f"{source or origins.get(key, default_origin)}: {key} {value!r}: expected {expected}")

    if config.profile not in PROFILES:
        fail("profile", config.profile, "one of " + ", ".join(PROFILES))
    for key, value, metadata in _leaves(config):
        if non_finite(value):
            fail(key, value, "finite numbers" if isinstance(value, list) else "a finite number")
        check = rule_of(metadata)
        problem = check.problem(value) if check is not None else None
        if problem is not None:
            fail(key, value, problem)
    for key, value, expected, related in _cross_field_problems(config):
        # name where the user set one of the related values rather than the profile default
        sources = [origins[k] for k in (key, *related) if k in origins and not origins[k].startswith("profile ")]
        fail(key, value, expected, "; ".join(dict.fromkeys(sources)) or None)


def _leaves(section: Any, prefix: str = "") -> typing.Iterator[tuple[str, Any, typing.Mapping[str, Any]]]:
    """(dotted key, value, field metadata) of every setting, plugin sections included."""
    for item in fields(section):
        value = getattr(section, item.name)
        if is_dataclass(value):
            yield from _leaves(value, f"{prefix}{item.name}.")
        elif item.name in PLUGIN_SECTIONS and isinstance(value, dict):
            for plugin, options in value.items():
                if is_dataclass(options):
                    yield from _leaves(options, f"{prefix}{item.name}.{plugin}.")
        else:
            yield f"{prefix}{item.name}", value, item.metadata


def _cross_field_problems(config: RunConfig) -> typing.Iterator[tuple[str, Any, str, tuple[str, ...]]]:
    """The rules that relate two settings: (key, value, what was expected, the other keys
    involved) for each one broken."""
    encoders, evaluation = config.encoders, config.eval
    image, text = encoders.image, encoders.text
    sized_vit = image.arch == "vit" and not image.timm_name and not encoders.clip_checkpoint
    if sized_vit and image.img_size % image.patch_size:
        yield ("encoders.image.img_size", image.img_size, f"a multiple of encoders.image.patch_size ({image.patch_size})",
               ("encoders.image.patch_size",))
    if sized_vit and image.width % image.heads:
        yield "encoders.image.width", image.width, f"a multiple of encoders.image.heads ({image.heads})", ("encoders.image.heads",)
    if not text.hf_dir and not encoders.clip_checkpoint and text.width % text.heads:
        yield "encoders.text.width", text.width, f"a multiple of encoders.text.heads ({text.heads})", ("encoders.text.heads",)
    vit = any(kind in image.timm_name for kind in ("vit", "deit")) if image.timm_name else image.arch == "vit"
    if (vit or encoders.clip_checkpoint) and evaluation.image_size != image.img_size:
        yield ("eval.image_size", evaluation.image_size,
               f"encoders.image.img_size ({image.img_size}), the side the ViT image tower is built for",
               ("encoders.image.img_size", "encoders.image.arch", "encoders.image.timm_name", "encoders.clip_checkpoint"))
    if config.corpus.normal_share + config.corpus.others_share > 1:
        yield ("corpus.others_share", config.corpus.others_share,
               f"at most 1 - corpus.normal_share ({1 - config.corpus.normal_share:g})", ("corpus.normal_share",))
    if sized_vit:  # plugin settings that are an image side the ViT tokenises (checks.image_side)
        for key, value, metadata in _leaves(config):
            if metadata.get(IMAGE_SIDE) and value and value % image.patch_size:
                yield (key, value, f"a multiple of encoders.image.patch_size ({image.patch_size}) for the ViT tower",
                       ("encoders.image.patch_size", "encoders.image.arch"))


def config_hash(section: Any) -> str:
    """12-hex SHA-256 of a config (or a sub-dict), excluding the unhashed run-location fields."""
    data = asdict(section) if is_dataclass(section) else section
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k not in UNHASHED}
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


#: eval fields that add cells to a grid rather than change its cells
GRID_EXTENDING = ("seeds", "fractions", "pretrain_seeds", "downstream_replicates")
#: eval fields added after grids were published, with the value that leaves every record as it
#: was: at that value they are left out of the grid hash, so those grids keep their key
GRID_NEUTRAL = {"test_scale": 1.0}


def hashed_eval(evaluation: EvalConfig) -> dict[str, Any]:
    """The evaluation settings every record's cells depend on: neither the grid-extending ones
    nor a `GRID_NEUTRAL` one at its neutral value."""
    return {k: v for k, v in asdict(evaluation).items()
            if k not in GRID_EXTENDING and not (k in GRID_NEUTRAL and v == GRID_NEUTRAL[k])}


def grid_hash(config: RunConfig) -> str:
    """Hash that keys a results folder: the shared sections every record depends on (encoders,
    corpus, pretraining, the shared evaluation protocol). Plugin sections are not in it: each
    record carries its own key (`record_key`), so changing one plugin's options recomputes only
    that plugin's records; requested seeds/fractions extend the same grid."""
    data = {key: value for key, value in asdict(config).items() if key not in PLUGIN_SECTIONS}
    data["eval"] = hashed_eval(config.eval)
    return config_hash(data)


def plugin_options(config: RunConfig, kind: str, name: str) -> dict[str, Any]:
    """The options of one plugin as a plain dict ({} for a plugin without options)."""
    section = getattr(config, kind).get(name)
    return asdict(section) if section is not None else {}


def _plugin_defaults(registry: Registry, profile: str) -> dict[str, Any]:
    return {entry.name: entry.default_options(profile) for entry in registry.entries() if entry.options is not None}


def _read_yaml(path: Path) -> dict[str, Any]:
    if path.is_dir():
        raise VlpbenchError(f"config file {path}: expected a file, but it is a folder")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise VlpbenchError(f"cannot read config file {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise VlpbenchError(f"config file {path} is not UTF-8 text (byte {error.object[error.start]:#04x} at "
                            f"offset {error.start}); save it as UTF-8") from None
    except ValueError as error:  # a path the OS cannot take (an embedded NUL byte)
        raise VlpbenchError(f"cannot read config file {path!r}: {error}") from None
    except yaml.YAMLError as error:
        raise VlpbenchError(f"config file {path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise VlpbenchError(f"config file {path}: expected a mapping at the top level")
    return data


def _merge(target: Any, updates: dict[str, Any], source: str, prefix: str = "", origins: dict[str, str] | None = None) -> Any:
    """Return a copy of dataclass `target` with `updates` applied, type-checked per field;
    `origins` records `source` for every key set."""
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
            changes[key] = _merge_plugins(current, value, PLUGIN_SECTIONS[key], source, f"{name}.", origins)
        elif is_dataclass(current):
            if not isinstance(value, dict):
                raise VlpbenchError(f"{source}: '{name}' is a section; expected a mapping")
            changes[key] = _merge(current, value, source, f"{name}.", origins)
        else:
            changes[key] = _coerce(value, hints[key], name, source)
            if origins is not None:
                origins[name] = source
    return dataclasses.replace(target, **changes)


PLUGIN_SECTIONS: dict[str, Registry] = {"strategy": STRATEGIES, "task": TASKS, "model": MODELS}


def _merge_plugins(
    current: dict[str, Any], updates: Any, registry: Registry, source: str, prefix: str, origins: dict[str, str] | None,
) -> dict[str, Any]:
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
        merged[name] = _merge(merged[name], values, source, f"{prefix}{name}.", origins)
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
    if origin is dict:
        if not isinstance(value, dict):
            raise VlpbenchError(f"{source}: '{name}' expects a mapping, got {type(value).__name__} {value!r}")
        return {str(k): v for k, v in value.items()}
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
