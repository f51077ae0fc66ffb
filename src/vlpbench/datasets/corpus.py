"""The pretraining corpus: the synthetic generator (default) or a user's manifest. Training
labels come from the report converter, never from the latent truth (as in ViLReF)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from vlpbench.core.config import CorpusConfig
from vlpbench.core.data_seeding import data_rng
from vlpbench.core.registry import PluginInfo, register_dataset
from vlpbench.datasets.base import DatasetOptions, PretrainCorpus
from vlpbench.datasets.labels.converter import ReportConverter
from vlpbench.datasets.labels.knowledge_base import load_knowledge_base
from vlpbench.datasets.manifest import load_manifest_corpus
from vlpbench.datasets.splits import balanced_validation
from vlpbench.datasets.synthetic.cache import cached_generation
from vlpbench.datasets.synthetic.generate import draw_findings, render_eyes
from vlpbench.datasets.synthetic.sampler import findings_to_labels
from vlpbench.datasets.synthetic.sites import TRAIN_SITES

VALIDATION_PER_CATEGORY = 8


def build_corpus(config: CorpusConfig, cache_dir: Path | None = None) -> PretrainCorpus:
    if config.manifest:
        return load_manifest_corpus(Path(config.manifest), config.image_size, config.language)
    arrays, meta = cached_generation(cache_dir, "syn-corpus", asdict(config), lambda: _generate(config))
    return PretrainCorpus(
        name=config.name, images=arrays["images"], reports=meta["reports"], labels=arrays["labels"],
        val_indices=arrays["val_indices"], language=config.language,
        card={"generator": asdict(config), "converter_exact_match": meta["converter_exact_match"], "sites": list(TRAIN_SITES)},
    )


@register_dataset(
    "corpus", description="the run's pretraining corpus (its held-out validation pairs: latent geometry)",
    info=PluginInfo(reference="ViLReF §III-A / M-FLAG §2", tags=("pairs",)),
)
def corpus_dataset(options: DatasetOptions) -> PretrainCorpus:
    """The corpus the run pretrains on (`options.corpus`; the synthetic default without one)."""
    return build_corpus(options.corpus or CorpusConfig(), options.cache_dir)


def _generate(config: CorpusConfig) -> tuple[dict[str, np.ndarray], dict]:
    rng = data_rng(config.seed)
    findings = draw_findings(rng, config.size, normal_share=config.normal_share,
                             others_share=config.others_share, target_mle=config.target_mle)
    eyes = render_eyes(findings, config.image_size, list(TRAIN_SITES), rng, config.language)
    labels, _ = ReportConverter(load_knowledge_base(config.language)).convert_many(eyes.reports)
    truth = findings_to_labels(findings)
    exact = float((labels == truth).all(axis=1).mean())
    val_indices = balanced_validation(labels, VALIDATION_PER_CATEGORY, rng)
    arrays = {"images": eyes.images, "labels": labels.astype(np.uint8), "val_indices": val_indices}
    return arrays, {"reports": eyes.reports, "converter_exact_match": exact}
