"""The run cache: corpus, tokenizer, the shared MLM-warm-started text encoder and pretrained
checkpoints, each keyed by the hash of the config sections it depends on, so a second
`bench run` (or another strategy) reuses them. Checkpoints are safetensors + a meta file with
the SHA-256 of the weights; a mismatch is reported as a corrupt cache entry.

A cache folder appears whole: it is written into a temp folder next to it and renamed into place
(`core/atomic.publish_folder`), while its writer holds the folder's lock (`core/claims.py`). A
second process wanting the same folder waits for the lock and then loads what the first made; a
killed writer's lock is released by the OS and its temp folder removed by the next process that
takes the lock (or by the sweep when a Workspace opens). A folder from an older version without
meta.json (a save interrupted before the folder was atomic) is recomputed with a warning."""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from safetensors.torch import load_model, save_model

from vlpbench.core.atomic import atomic_write_json, new_temp_folder, publish_folder, remove_tree, sweep_old_style, sweep_stale, temp_target
from vlpbench.core.claims import claim, is_claimed
from vlpbench.core.config import RunConfig, config_hash, plugin_options
from vlpbench.core.console import make_console, print_warning
from vlpbench.core.distributed import is_distributed, is_main_process
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.fingerprint import INDEX_NAME, DigestIndex, sha256_file
from vlpbench.core.provenance import git_commit, package_versions
from vlpbench.core.registry import DATASETS, STRATEGIES
from vlpbench.core.seeding import seeded, strategy_init_seed
from vlpbench.datasets.base import Dataset, DatasetOptions, PretrainCorpus
from vlpbench.datasets.corpus import build_corpus
from vlpbench.datasets.labels.knowledge_base import load_knowledge_base
from vlpbench.datasets.labels.label_stats import mean_label_entropy
from vlpbench.encoders.mlm_warmstart import mlm_pretrain
from vlpbench.encoders.tokenizer import CharTokenizer, HFTokenizer, Tokenizer
from vlpbench.encoders.towers import TextEncoder, build_text_encoder
from vlpbench.engine.input_digests import input_digests
from vlpbench.engine.pretraining import pretrain
from vlpbench.models.base import build_model, is_model, model_config, model_entry, model_files
from vlpbench.strategies.base import Strategy, StrategyContext
from vlpbench.tasks.prompts import text_zero_shot_auc


def checkpoint_key(config: RunConfig, name: str, seed: int) -> str:
    """Hash of what a checkpoint depends on: encoders, corpus, pretraining settings with the run
    seed, *that* strategy's options, the keys of the checkpoints it requires, and the contents of
    the user files it reads (`input_digests`; absent for the synthetic default). An external
    model's: its name, its family's options and the SHA-256 of its files (no run seed: it is not
    trained)."""
    if is_model(name):
        family = model_entry(name).name
        return config_hash({"model": name, "options": plugin_options(config, "model", family),
                            "files": model_files(config, name)})
    pretrain_section = {**asdict(config.pretrain), "seed": seed}
    required = {other: checkpoint_key(config, other, seed) for other in STRATEGIES.get(name).requires}
    inputs = input_digests(config)
    return config_hash({"strategy": name, "encoders": asdict(config.encoders), "corpus": asdict(config.corpus),
                        "pretrain": pretrain_section, "options": plugin_options(config, "strategy", name),
                        "requires": required, **({"inputs": inputs} if inputs else {})})


@dataclass
class Checkpoint:
    """A pretrained strategy (or a loaded external model) and where/how it was made; `config`
    is the config it is evaluated under (an external model's input size and prompt language)."""

    name: str
    model: Strategy
    directory: Path
    sha256: str
    meta: dict[str, Any]
    config: RunConfig | None = None


class Workspace:
    """Everything `bench run` builds once and shares between strategies, tasks and seeds."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.root = Path(config.runs_dir) / config.profile
        self.device = torch.device(
            ("cuda" if torch.cuda.is_available() else "cpu") if config.device == "auto" else config.device
        )
        self._corpus: PretrainCorpus | None = None
        self._tokens: tuple[Tokenizer, torch.Tensor, torch.Tensor] | None = None
        self._text_state: dict[str, torch.Tensor] | None = None
        self._checkpoints: dict[tuple[str, int], Checkpoint] = {}
        self._datasets: dict[str, Dataset] = {}
        self.digests = DigestIndex.at(Path(config.runs_dir) / INDEX_NAME)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-test-{os.getpid()}"
            probe.write_text("")
            probe.unlink()
        except OSError as error:
            raise VlpbenchError(f"run directory {self.root} is not writable: {error.strerror}") from None
        #: cache folders this process computed and those it found made (by itself earlier or another process)
        self.computed: list[str] = []
        self.reused: list[str] = []
        if is_main_process():  # another rank's sweep would take rank 0's temp folders for a dead writer's
            self.sweep()

    def sweep(self) -> None:
        """Remove what killed processes left in the run directory: temp files whose writer is
        gone, and temp folders whose target nobody holds the lock of (their writer is dead)."""
        sweep_stale(self.root)
        sweep_stale(self.root / "data")
        sweep_old_style(self.root)
        for path in self.root.glob(".*.tmp-*"):
            target = temp_target(path)
            if path.is_dir() and target and not is_claimed(self.root / target):
                remove_tree(path)

    # -- data -------------------------------------------------------------------------------
    def dataset_options(self, image_size: int) -> DatasetOptions:
        evaluation = self.config.eval
        return DatasetOptions(
            image_size=image_size, seed=0, data_root=Path(evaluation.data_root) if evaluation.data_root else None,
            size_scale=evaluation.dataset_scale, test_scale=evaluation.test_scale, skip_bad_images=evaluation.skip_bad_images, cache_dir=self.root / "data",
            corpus=self.config.corpus,
        )

    def dataset(self, name: str, image_size: int) -> Dataset:
        key = f"{name}@{image_size}"
        if key not in self._datasets:
            self._datasets[key] = DATASETS.get(name)(self.dataset_options(image_size))
            skipped = self._datasets[key].card.get("skipped_files", [])
            if skipped:
                print_warning(f"dataset '{name}': {len(skipped)} undecodable or missing image(s) skipped "
                              f"(--skip-bad-images), first {skipped[0]}")
        return self._datasets[key]

    def corpus(self) -> PretrainCorpus:
        if self._corpus is None:
            self._corpus = build_corpus(self.config.corpus, self.root / "data")
        return self._corpus

    def corpus_summary(self) -> dict[str, Any]:
        corpus = self.corpus()
        return {"name": corpus.name, "size": len(corpus.reports), "mle": round(mean_label_entropy(corpus.labels), 4)}

    def tokens(self) -> tuple[Tokenizer, torch.Tensor, torch.Tensor]:
        """The shared tokenizer and the tokenised corpus reports."""
        if self._tokens is None:
            text = self.config.encoders.text
            corpus = self.corpus()
            hf_directory = self.config.encoders.clip_checkpoint or text.hf_dir
            if hf_directory:
                tokenizer: Tokenizer = HFTokenizer(hf_directory)
            else:
                tokenizer = CharTokenizer.build((corpus.reports[i] for i in corpus.train_indices),
                                                terms=self._tokenizer_terms(corpus.language))
            ids, mask = tokenizer.encode(corpus.reports, text.max_length)
            self._tokens = (tokenizer, ids, mask)
        return self._tokens

    def _tokenizer_terms(self, language: str) -> list[str]:
        """Terms the built-in tokenizer keeps whole (`encoders.text.tokenizer`)."""
        kind = self.config.encoders.text.tokenizer
        if kind not in ("terms", "chars"):
            raise VlpbenchError(f"encoders.text.tokenizer '{kind}': expected 'terms' or 'chars'")
        return load_knowledge_base(language).surface_forms() if kind == "terms" else []

    # -- shared text initialisation ----------------------------------------------------------
    def build_text_encoder(self) -> TextEncoder:
        """A fresh text encoder carrying the shared initial weights (identical for every strategy)."""
        tokenizer, ids, mask = self.tokens()
        state = self._mlm_state(ids, mask) if self.config.pretrain.mlm_steps > 0 else None
        encoder = build_text_encoder(self.config.encoders, tokenizer)
        if state is not None:
            encoder.backbone.load_state_dict(state)
        return encoder

    def _mlm_state(self, ids: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """The MLM warm-started text backbone: from the cache, or trained from a fixed seed on a
        forked RNG, so the caller's random stream is the same whether it was cached or not."""
        if self._text_state is not None:
            return self._text_state
        with seeded(self.config.corpus.seed):  # shared by every run seed: part of the fixed initialisation
            self._text_state = self._warm_started_backbone(ids, mask)
        return self._text_state

    def _warm_started_backbone(self, ids: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        encoder = build_text_encoder(self.config.encoders, self.tokens()[0])
        inputs = input_digests(self.config)  # the tokenizer's vocabulary comes from the corpus reports
        section = {"encoders": asdict(self.config.encoders), "corpus": asdict(self.config.corpus),
                   "mlm_steps": self.config.pretrain.mlm_steps, "mlm_lr": self.config.pretrain.mlm_lr,
                   **({"inputs": inputs} if inputs else {})}
        directory = self.root / f"text-mlm-{config_hash(section)}"

        def train(out: Path | None) -> dict[str, Any]:
            start = time.perf_counter()
            losses = mlm_pretrain(encoder.backbone, self.config.encoders.text, self.tokens()[0], ids, mask,
                                  self.config.pretrain.mlm_steps, self.config.pretrain.batch_size, self.config.pretrain.mlm_lr, seed=0)
            return {"kind": "text-mlm", "losses": losses, "wall_time_s": time.perf_counter() - start, "config": section}

        self._cached(directory, encoder.backbone, "the MLM warm start of the text encoder", train, force=False)
        return {k: v.detach().clone() for k, v in encoder.backbone.state_dict().items()}

    # -- pretrained strategies ---------------------------------------------------------------

    def checkpoint(self, name: str, seed: int | None = None, force: bool = False) -> Checkpoint:
        """The `name` strategy pretrained with run seed `seed` (default `pretrain.seed`) from the
        cache, pretraining it (and what it requires, with the same seed) first if needed."""
        seed = self.config.pretrain.seed if seed is None else seed
        if is_model(name):
            return self.external(name)
        if (name, seed) in self._checkpoints and not force:
            return self._checkpoints[(name, seed)]
        strategy_class = STRATEGIES.get(name)
        for required in strategy_class.requires:
            self.checkpoint(required, seed)
        tokenizer = self.tokens()[0]
        context = StrategyContext(self.config, tokenizer, self.build_text_encoder,
                                  lambda other: self.checkpoint(other, seed).model)
        with seeded(strategy_init_seed(name, seed)):
            model = strategy_class(context)
        directory = self.checkpoint_directory(name, seed)
        resume = self.root / "resume" / directory.name

        def train(out: Path | None) -> dict[str, Any]:
            _, ids, mask = self.tokens()
            c = self.config
            stats = (pretrain(model, name, self.corpus(), ids, mask, c.pretrain, c.encoders.image.img_size,
                              seed=seed, out_dir=out, device=self.device, resume_dir=resume, save_every=c.launcher.save_every)
                     if strategy_class.pretrains else None)
            if out is not None:
                tokenizer.save(out)
            return {"kind": "strategy", "strategy": name, "seed": seed,
                    "pretrain": asdict(stats) if stats else {"steps": 0, "wall_time_s": 0.0, "peak_memory_mb": 0.0},
                    "config": asdict(c), "corpus": self.corpus_summary(), "text_zero_shot_auc": self._text_diagnostic(model),
                    **({"weights_loaded": loaded} if (loaded := weights_loaded(model)) else {})}

        meta = self._cached(directory, model, f"checkpoint {name} (seed {seed})", train, force)
        if resume.exists() and is_main_process():  # published: the resume state has served
            remove_tree(resume)
        model.to(self.device).eval()
        self._checkpoints[(name, seed)] = Checkpoint(name, model, directory, meta.get("sha256", ""), meta, self.config)
        return self._checkpoints[(name, seed)]

    def external(self, name: str) -> Checkpoint:
        """A released model (`vlpbench.models`), read from its weights file once per process and
        shared by every run seed: nothing about it depends on one. Its feature cache is keyed by
        its `checkpoint_key` (options and file hashes)."""
        if (name, -1) not in self._checkpoints:
            with seeded(strategy_init_seed(name, 0)):  # anything a release leaves unset is still reproducible
                model = build_model(self.config, name)
            model.to(self.device).eval()
            entry = model_entry(name)
            title = (entry.info.title or entry.name) + (f" ({model.argument})" if model.argument else "")  # timm:…, hf-clip:…
            meta = {"kind": "model", "pretrain": {"steps": 0, "wall_time_s": 0.0, "peak_memory_mb": 0.0},
                    "weights_loaded": model.loaded_fractions,
                    "external": {"family": entry.name, "title": title, "source": entry.info.source,
                                 "licence": entry.info.licence, "reference": entry.reference, "backbone": model.describe(),
                                 "input_size": model.input_size, "language": model.language}}
            key = checkpoint_key(self.config, name, 0)
            self._checkpoints[(name, -1)] = Checkpoint(name, model, model.weights_path, f"model-{key}", meta,
                                                       model_config(self.config, name))
        return self._checkpoints[(name, -1)]

    def checkpoint_directory(self, name: str, seed: int) -> Path:
        """Where the `name` checkpoint of run seed `seed` is cached."""
        return self.root / f"{name}-{checkpoint_key(self.config, name, seed)}"

    def has_checkpoint(self, name: str, seed: int) -> bool:
        """The checkpoint is cached whole (its meta.json written last); a released model always is."""
        return is_model(name) or (self.checkpoint_directory(name, seed) / "meta.json").exists()

    def _text_diagnostic(self, model: Strategy) -> float | None:
        """Text-only zero-shot macro AUC of the trained text tower on the corpus validation
        reports (tasks/prompts.py), printed after pretraining; None for image-only strategies."""
        if not model.has_text_tower:
            return None
        corpus = self.corpus()
        was_training = model.training
        model.to(self.device).eval()
        auc = text_zero_shot_auc(model, [corpus.reports[i] for i in corpus.val_indices],
                                 np.asarray(corpus.labels)[corpus.val_indices], corpus.language)
        model.train(was_training)
        if is_main_process():
            make_console().print(f"{model.registered_name}: text-only zero-shot macro AUC {auc:.1f} on the corpus validation reports")
        return round(float(auc), 2)

    # -- cache folders: claimed, written whole, verified -------------------------------------
    def _cached(self, directory: Path, module: torch.nn.Module, what: str,
                train: Callable[[Path | None], dict[str, Any]], force: bool) -> dict[str, Any]:
        """Load `directory` into `module`, or claim it, `train(temp folder)` and publish it. A
        process that finds it claimed waits, then loads what the claimant made. Under torchrun
        every rank trains (no lock: the ranks must all join), rank 0 writes."""
        if not force and (meta := self._complete(directory)) is not None:
            return self._load(directory, module, meta)
        with claim(directory, what, enabled=not is_distributed()):
            if not force and (meta := self._complete(directory)) is not None:  # made while we waited
                return self._load(directory, module, meta)
            for stale in directory.parent.glob(f".{directory.name}.tmp-*") if is_main_process() else ():
                remove_tree(stale)  # a dead claimant's (we hold the lock; under torchrun, rank 0's own is in the making)
            if directory.exists() and not force:
                print_warning(f"cached {what} {directory} is incomplete (no meta.json: a save interrupted by an "
                              "older version); recomputing it")
            if not is_main_process():
                train(None)
                return {}
            temp = new_temp_folder(directory)
            try:
                meta = self._save(module, temp, train(temp))
                if directory.exists():  # --force, or an incomplete old folder: replaced under the lock
                    remove_tree(directory)
                publish_folder(temp, directory)
            finally:
                if temp.exists():
                    remove_tree(temp)
            self.computed.append(directory.name)
            make_console().print(f"saved {what} to {directory}", soft_wrap=True)
            return meta

    def _complete(self, directory: Path) -> dict[str, Any] | None:
        """The verified meta of a complete cache folder; None when there is none (or only an
        incomplete one from an older version, without meta.json)."""
        if not (directory / "meta.json").exists():
            return None
        return self._verify(directory)

    def _load(self, directory: Path, module: torch.nn.Module, meta: dict[str, Any]) -> dict[str, Any]:
        load_model(module, str(directory / "model.safetensors"), strict=True)
        self.reused.append(directory.name)
        return meta

    def _save(self, module: torch.nn.Module, directory: Path, meta: dict[str, Any]) -> dict[str, Any]:
        weights = directory / "model.safetensors"
        save_model(module, str(weights))
        meta = {**meta, "sha256": sha256_file(weights), "versions": package_versions(), "git_commit": git_commit(),
                "computed_by": {"host": socket.gethostname(), "pid": os.getpid()}}
        atomic_write_json(directory / "meta.json", meta)
        return meta

    def _verify(self, directory: Path) -> dict[str, Any]:
        meta_path = directory / "meta.json"
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            raise VlpbenchError(f"cached checkpoint {directory}: meta.json unreadable; delete the folder to retrain") from None
        actual = sha256_file(directory / "model.safetensors")
        if actual != meta.get("sha256"):
            raise VlpbenchError(
                f"cached checkpoint {directory / 'model.safetensors'} is corrupt: SHA-256 {actual[:12]}… "
                f"does not match meta.json {str(meta.get('sha256'))[:12]}…; delete the folder or rerun with --force"
            )
        return meta


def weights_loaded(model: torch.nn.Module) -> list[dict[str, Any]]:
    """What user weights files initialised `model`'s towers, and the fraction of each tower's
    parameters they set (`encoders.weights.load_checked`)."""
    return [module.weights_loaded for module in model.modules() if getattr(module, "weights_loaded", None)]
