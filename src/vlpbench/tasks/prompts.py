"""Zero-shot prompts and scores: prompt protocols, the calibrated multi-label scoring rule, and
the text-only zero-shot diagnostic of a text tower.

Protocols (all from the knowledge base's terms, in the text encoder's language):
- `term` — the class's Chinese (or English) medical term alone (ViLReF §IV-C);
- `template-ensemble` — the term in several report-style sentence templates, embeddings averaged;
- `knowledge` — every surface form the knowledge base lists for the class (canonical term,
  synonyms, abbreviations), embeddings averaged (knowledge-driven prompts as in FLAIR/KeepFIT).

Scoring of multi-label sets (`calibrated`, CheXzero-style): a finding scores
cos(image, term) − cos(image, negated term), the negation phrased as the reports phrase it
(未见{term} / no {term}); a `normal` class — whose negation means "abnormal", not "absent" —
scores cos(image, normal) minus the image's mean cosine to the finding prompts. Both remove the
per-image offset that makes healthy-looking images closer to *every* prompt (raw cosines then rank
every finding's positives low: below-chance AUC). Multi-class sets use the softmax over classes.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from vlpbench.core.errors import VlpbenchError
from vlpbench.datasets.labels.knowledge_base import load_knowledge_base
from vlpbench.strategies.base import Strategy
from vlpbench.tasks._metrics import classification_metrics
from vlpbench.tasks.prompt_texts import NEGATIONS, surface_forms

SCORINGS = ("calibrated", "cosine")
#: texts embedded per forward pass
TEXT_BATCH = 256


@torch.no_grad()
def embed_texts(model: Strategy, texts: list[str]) -> torch.Tensor:
    """L2-normalised projected embeddings of `texts`, in batches."""
    chunks = [model.text_embedding(texts[i:i + TEXT_BATCH]) for i in range(0, len(texts), TEXT_BATCH)]
    return torch.cat(chunks) if chunks else torch.zeros(0)


def class_embeddings(model: Strategy, forms: list[list[str]]) -> torch.Tensor:
    """(C, D): each class's surface-form embeddings averaged and re-normalised."""
    flat = [text for group in forms for text in group]
    embedded = embed_texts(model, flat)
    out, start = [], 0
    for group in forms:
        out.append(embedded[start:start + len(group)].mean(0))
        start += len(group)
    return nn.functional.normalize(torch.stack(out), dim=-1)


def calibrated_scores(positive: np.ndarray, negative: np.ndarray, is_normal: list[bool]) -> np.ndarray:
    """(n, C) multi-label scores from cosines to the positive and negated prompts: a finding
    column is positive − negative; a `normal` column is its cosine minus the row mean of the
    finding columns' positive cosines (raw if there is no finding column)."""
    scores = positive - negative
    findings = [c for c, normal in enumerate(is_normal) if not normal]
    for c, normal in enumerate(is_normal):
        if normal:
            offset = positive[:, findings].mean(axis=1) if findings else 0.0
            scores[:, c] = positive[:, c] - offset
    return scores


def prompt_scores(
    model: Strategy, image_embeddings: torch.Tensor, terms: list[str], language: str, protocol: str,
    scoring: str, multilabel: bool, template: str = "{}", logit_scale: float = 100.0,
) -> np.ndarray:
    """(n, C) scores of normalised image embeddings against the classes `terms`."""
    if scoring not in SCORINGS:
        raise VlpbenchError(f"task.ood-zsc.scoring '{scoring}': expected one of {list(SCORINGS)}")
    positive = image_embeddings @ class_embeddings(model, [surface_forms(t, language, protocol, template) for t in terms]).T
    if not multilabel:
        return (logit_scale * positive).softmax(-1).float().cpu().numpy()
    if scoring == "cosine":
        return positive.float().cpu().numpy()
    negation = NEGATIONS.get(language, NEGATIONS["en"])
    negated = [[negation.format(form) for form in surface_forms(t, language, protocol, template)] for t in terms]
    negative = image_embeddings @ class_embeddings(model, negated).T
    normal_term = load_knowledge_base(language).term("normal")
    return calibrated_scores(positive.float().cpu().numpy(), negative.float().cpu().numpy(), [t == normal_term for t in terms])


def text_zero_shot_auc(model: Strategy, reports: list[str], labels: np.ndarray, language: str) -> float:
    """Diagnostic of the text tower alone: rank reports (not images) by their calibrated score
    against each category's term and return the macro AUC (%) over the categories present
    (`others` left out). Near 50 means bare class terms are not grounded in report space."""
    kb = load_knowledge_base(language)
    keep = [c for c, key in enumerate(kb.keys) if key != "others" and 0 < labels[:, c].sum() < len(labels)]
    if not keep:
        raise VlpbenchError("text zero-shot diagnostic: no category is both present and absent in the reports")
    report_embeddings = embed_texts(model, reports)
    terms = [kb.term(kb.keys[c]) for c in keep]
    scores = prompt_scores(model, report_embeddings, terms, language, "term", "calibrated", multilabel=True)
    metrics, _ = classification_metrics(labels[:, keep], scores, True, [kb.keys[c] for c in keep])
    return metrics["auc"]
