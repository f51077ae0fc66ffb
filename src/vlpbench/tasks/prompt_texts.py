"""The texts of the zero-shot prompt protocols (see `tasks.prompts`): the protocols, the
report-style templates, the negations and each protocol's surface forms of a class term. Text
only, so the report layer can show what each protocol embeds without importing the task stack."""

from __future__ import annotations

from vlpbench.core.errors import VlpbenchError
from vlpbench.datasets.labels.knowledge_base import load_knowledge_base

PROTOCOLS = ("term", "template-ensemble", "knowledge")
TEMPLATES = {
    "zh": ("{}", "眼底可见{}", "诊断：{}", "印象：{}", "可见{}"),
    "en": ("{}", "{} are seen", "Diagnosis: {}", "Impression: {}", "Fundus shows {}"),
}
NEGATIONS = {"zh": "未见{}", "en": "no {}"}


def surface_forms(term: str, language: str, protocol: str, template: str = "{}") -> list[str]:
    """The texts whose embeddings are averaged into one class prompt under `protocol`."""
    if protocol == "term":
        return [template.replace("{}", term)]
    if protocol == "template-ensemble":
        return [t.replace("{}", term) for t in TEMPLATES[language]]
    if protocol == "knowledge":
        kb = load_knowledge_base(language)
        by_term = {kb.term(key): key for key in kb.keys}
        if term not in by_term:
            return [term]  # e.g. a DR grade prompt with its stage: no category lists it
        category = kb.category(by_term[term])
        return list(dict.fromkeys([term, *category.synonyms, *category.abbreviations]))
    raise VlpbenchError(f"task.ood-zsc.protocol '{protocol}': expected one of {list(PROTOCOLS)}")
