"""Prompt-based out-of-distribution zero-shot classification (ViLReF §IV-C, metrics §IV-B):
class → medical term in the text encoder's language → prompt → text embedding; image–prompt
cosine scores on evaluation sets from unseen acquisition sites. No training, so one
deterministic run, with a paired bootstrap over test images for significance and CIs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import PluginInfo, register_task
from vlpbench.datasets.base import ClassificationDataset
from vlpbench.encoders.preprocessing import load_batch
from vlpbench.strategies.base import Strategy
from vlpbench.tasks._metrics import bootstrap_ci, bootstrap_metrics, classification_metrics, one_hot
from vlpbench.tasks.base import Task, TaskContext, TaskResult
from vlpbench.tasks.linear_probe import DEFAULT_DATASETS

#: logit scale of the softmax over classes for multi-class sets (CLIP's clamp value)
LOGIT_SCALE = 100.0
#: classes without a specific medical meaning, left out as in ViLReF §IV-C ("others")
EXCLUDED_CLASSES = ("others",)


def zero_shot_prompts(dataset: ClassificationDataset, language: str, template: str) -> tuple[list[int], list[str]]:
    """Indices of the classes scored and their prompts: `template` formatted with each class's
    term; classes named 'others', listed in the card's `zero_shot_exclude` (e.g. ODIR's O) or
    with an empty term are left out."""
    if language not in dataset.prompts:
        raise VlpbenchError(
            f"dataset '{dataset.name}' has no '{language}' prompts (has: {', '.join(dataset.prompts) or 'none'})"
        )
    terms = dataset.prompts[language]
    if len(terms) != len(dataset.class_names):
        raise VlpbenchError(
            f"dataset '{dataset.name}': {len(terms)} '{language}' prompts for {len(dataset.class_names)} classes"
        )
    if template.count("{}") != 1:
        raise VlpbenchError(f"task.ood-zsc.template '{template}': expected exactly one '{{}}' placeholder")
    excluded = {*EXCLUDED_CLASSES, *(name.lower() for name in dataset.card.get("zero_shot_exclude", []))}
    keep = [c for c, (name, term) in enumerate(zip(dataset.class_names, terms))
            if term.strip() and name.lower() not in excluded]
    return keep, [template.replace("{}", terms[c]) for c in keep]


@dataclass
class ZeroShotOptions:
    """Prompt template around the class term (one `{}`) and bootstrap resamples of the test set."""

    template: str = "{}"
    bootstrap: int = 1000


@register_task(
    "ood-zsc", description="prompt-based zero-shot on out-of-distribution sets",
    info=PluginInfo(title="Prompt-based out-of-distribution zero-shot classification", order=30, reference="ViLReF §IV-B",
                    default_datasets=DEFAULT_DATASETS, tags=("zero-shot", "ablation"), cost=0.2,
                    profiles={"smoke": {"bootstrap": 50}}),
)
class OodZeroShot(Task):
    """Cosine scores (multi-label) or a softmax over classes at logit scale 100 (multi-class)."""

    accepts = ("classification",)
    deterministic = True
    Options = ZeroShotOptions
    needs_text_tower = True

    def evaluate(
        self, model: Strategy, dataset: ClassificationDataset, seed: int, fraction: float, context: TaskContext
    ) -> TaskResult:
        self.check_dataset(dataset)
        language = model.config.encoders.text.language or "zh"
        keep, prompts = zero_shot_prompts(dataset, language, self.options.template)
        if not keep:
            raise VlpbenchError(f"dataset '{dataset.name}': no class has a zero-shot prompt")
        scores = self._scores(model, dataset, prompts, context.device)
        targets = one_hot(dataset.split("test").labels, dataset.multilabel, len(dataset.class_names))[:, keep]
        names = [dataset.class_names[c] for c in keep]
        metrics, notes = classification_metrics(targets, scores, True, names)
        skipped = [name for c, name in enumerate(dataset.class_names) if c not in keep]
        if skipped:
            notes.insert(0, f"classes without a zero-shot prompt left out: {', '.join(skipped)}")
        if not self.options.bootstrap:
            return TaskResult(metrics=metrics, warnings=notes)
        replicates = bootstrap_metrics(targets, scores, True, names, self.options.bootstrap, seed=0)
        ci = {name: list(bootstrap_ci(values)) for name, values in replicates.items()}
        return TaskResult(metrics=metrics, warnings=notes, ci=ci, bootstrap=replicates)

    def _scores(self, model: Strategy, dataset: ClassificationDataset, prompts: list[str], device: str) -> np.ndarray:
        """(n_test, len(prompts)) image–prompt cosines, or their softmax at LOGIT_SCALE (multi-class)."""
        test, settings = dataset.split("test"), self.config.eval
        was_training = model.training
        model.to(device).eval()
        text = model.text_embedding(prompts)
        scores = []
        with torch.no_grad():
            for start in range(0, len(test.images), settings.batch_size):
                indices = np.arange(start, min(start + settings.batch_size, len(test.images)))
                images = load_batch(test.images, indices, settings.image_size).to(device)
                cosine = model.image_embedding(images) @ text.T
                scores.append(cosine if dataset.multilabel else (LOGIT_SCALE * cosine).softmax(-1))
        model.train(was_training)
        return torch.cat(scores).float().cpu().numpy()
