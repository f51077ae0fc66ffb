"""Prompt-based out-of-distribution zero-shot classification (ViLReF §IV-C, metrics §IV-B):
class → medical term in the text encoder's language → prompt(s) → text embedding; image–prompt
scores on evaluation sets from unseen acquisition sites. No downstream training: one run per
pretraining seed, with a paired bootstrap over test images as the within-run CI."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from vlpbench.core.checks import at_least, one_of, rule
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import PluginInfo, register_task
from vlpbench.datasets.base import ClassificationDataset
from vlpbench.encoders.preprocessing import load_batch
from vlpbench.strategies.base import Strategy
from vlpbench.tasks._intervals import bootstrap_ci
from vlpbench.tasks._metrics import bootstrap_metrics, classification_metrics, one_hot
from vlpbench.tasks.base import Task, TaskContext, TaskResult
from vlpbench.tasks.linear_probe import DEFAULT_DATASETS
from vlpbench.tasks.prompt_texts import PROTOCOLS
from vlpbench.tasks.prompts import SCORINGS, prompt_scores

#: logit scale of the softmax over classes for multi-class sets (CLIP's clamp value)
LOGIT_SCALE = 100.0
#: classes without a specific medical meaning, left out as in ViLReF §IV-C ("others")
EXCLUDED_CLASSES = ("others",)


def zero_shot_terms(dataset: ClassificationDataset, language: str) -> tuple[list[int], list[str]]:
    """Indices of the classes scored and their terms; classes named 'others', listed in the card's
    `zero_shot_exclude` (e.g. ODIR's O) or with an empty term are left out."""
    if language not in dataset.prompts:
        raise VlpbenchError(
            f"dataset '{dataset.name}' has no '{language}' prompts (has: {', '.join(dataset.prompts) or 'none'})"
        )
    terms = dataset.prompts[language]
    if len(terms) != len(dataset.class_names):
        raise VlpbenchError(
            f"dataset '{dataset.name}': {len(terms)} '{language}' prompts for {len(dataset.class_names)} classes"
        )
    excluded = {*EXCLUDED_CLASSES, *(name.lower() for name in dataset.card.get("zero_shot_exclude", []))}
    keep = [c for c, (name, term) in enumerate(zip(dataset.class_names, terms))
            if term.strip() and name.lower() not in excluded]
    return keep, [terms[c] for c in keep]


@dataclass
class ZeroShotOptions:
    """`protocol`: how class prompts are built (term | template-ensemble | knowledge, see
    tasks/prompts.py); `scoring` of multi-label sets: calibrated (positive − negated prompt) or
    raw cosine; `template` wraps the term under the `term` protocol (one `{}`); `bootstrap`
    resamples of the test set for the within-run CI."""

    protocol: str = field(default="term", metadata=one_of(*PROTOCOLS))
    scoring: str = field(default="calibrated", metadata=one_of(*SCORINGS))
    template: str = field(default="{}", metadata=rule(lambda v: isinstance(v, str) and v.count("{}") == 1,
                                                      "text with exactly one '{}' placeholder"))
    bootstrap: int = field(default=1000, metadata=at_least(0))  # 0 = no within-run CI


@register_task(
    "ood-zsc", description="prompt-based zero-shot on out-of-distribution sets",
    info=PluginInfo(title="Prompt-based out-of-distribution zero-shot classification", order=30, reference="ViLReF §IV-B",
                    default_datasets=DEFAULT_DATASETS, tags=("zero-shot",), cost=0.2,
                    profiles={"smoke": {"bootstrap": 50}}),
)
class OodZeroShot(Task):
    """Softmax over classes at logit scale 100 (multi-class) or the calibrated multi-label rule
    (tasks/prompts.py); every prompt protocol is also scored, for the prompt-sensitivity table."""

    accepts = ("classification",)
    deterministic = True
    Options = ZeroShotOptions
    needs_text_tower = True

    def evaluate(
        self, model: Strategy, dataset: ClassificationDataset, seed: int, fraction: float, context: TaskContext
    ) -> TaskResult:
        self.check_dataset(dataset)
        options = self.options
        language = model.config.encoders.text.language or "zh"
        keep, terms = zero_shot_terms(dataset, language)
        if not keep:
            raise VlpbenchError(f"dataset '{dataset.name}': no class has a zero-shot prompt")
        images = self._image_embeddings(model, dataset, context.device)
        targets = one_hot(dataset.split("test").labels, dataset.multilabel, len(dataset.class_names))[:, keep]
        names = [dataset.class_names[c] for c in keep]
        by_protocol = {}
        for protocol in PROTOCOLS:
            scores = prompt_scores(model, images, terms, language, protocol, options.scoring, dataset.multilabel,
                                   options.template, LOGIT_SCALE)
            by_protocol[protocol] = (scores, *classification_metrics(targets, scores, True, names))
        scores, metrics, notes = by_protocol[options.protocol]
        skipped = [name for c, name in enumerate(dataset.class_names) if c not in keep]
        if skipped:
            notes.insert(0, f"classes without a zero-shot prompt left out: {', '.join(skipped)}")
        extra = {"protocols": {protocol: values[1] for protocol, values in by_protocol.items()},
                 "protocol": options.protocol, "scoring": options.scoring}
        if not options.bootstrap:
            return TaskResult(metrics=metrics, warnings=notes, extra=extra)
        replicates = bootstrap_metrics(targets, scores, True, names, options.bootstrap, seed=0)
        ci = {name: list(bootstrap_ci(values)) for name, values in replicates.items()}
        return TaskResult(metrics=metrics, warnings=notes, ci=ci, bootstrap=replicates, extra=extra)

    def _image_embeddings(self, model: Strategy, dataset: ClassificationDataset, device: str) -> torch.Tensor:
        """(n_test, D) normalised image embeddings of the test split."""
        test, settings = dataset.split("test"), self.config.eval
        was_training = model.training
        model.to(device).eval()
        chunks = []
        with torch.no_grad():
            for start in range(0, len(test.images), settings.batch_size):
                indices = np.arange(start, min(start + settings.batch_size, len(test.images)))
                chunks.append(model.image_embedding(load_batch(test.images, indices, settings.image_size).to(device)))
        model.train(was_training)
        return torch.cat(chunks)
