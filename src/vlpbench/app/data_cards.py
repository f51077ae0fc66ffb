"""`bench list datasets --cards OUT.md`: docs/data-cards.md, generated from the public loaders.

Every registered dataset whose builder's module defines `CARD` (the facts every loaded dataset
carries as `dataset.card`) gets a section: its registry title and order, the card's fields, the
folder names the loader finds under `--data-root` (`FOLDERS`) and, for classification sets, the
label space with the knowledge-base prompt terms (`CLASSES`). The surrounding prose is the
template `templates/data-cards.md.tmpl`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from string import Template
from typing import Sequence

from vlpbench.core.atomic import atomic_write
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import DATASETS, Entry
from vlpbench.datasets.labels.knowledge_base import CATEGORY_KEYS
from vlpbench.datasets.public._common import (
    FRACTIONS,
    LESIONS,
    SPLIT_SEED,
    VAL_FRACTIONS,
    ClassTerm,
    class_prompts,
    label_card,
)

TEMPLATE = "data-cards.md.tmpl"
#: card fields in display order, with their bullet labels; other fields follow under their own name
FIELDS = {
    "dataset": "Dataset", "layout": "Layout", "split": "Split", "label_rule": "Labels", "prompt_note": "Prompts",
    "zero_shot_exclude": "Zero-shot", "licence": "Licence", "citation": "Citation",
}
#: card fields shown elsewhere in the section (heading, folder line)
SHOWN_ELSEWHERE = ("task", "folder")


@dataclass(frozen=True)
class PublicDataset:
    """What one section is made of: the registry entry and its loader module's card."""

    name: str
    title: str
    card: dict
    folders: tuple[str, ...]
    classes: tuple[ClassTerm, ...] | None


def public_datasets() -> list[PublicDataset]:
    """The registered datasets whose loader module has a `CARD`, in registry display order."""
    found = []
    for entry in DATASETS.ordered():
        module = importlib.import_module(entry.obj.__module__)
        card = getattr(module, "CARD", None)
        if isinstance(card, dict):
            found.append(_public(entry, module, card))
    return found


def _public(entry: Entry, module, card: dict) -> PublicDataset:
    missing = [key for key in ("dataset", "task", "folder", "layout", "split", "licence", "citation") if not card.get(key)]
    if missing:
        raise VlpbenchError(f"dataset '{entry.name}' ({module.__name__}.CARD): no {', '.join(missing)}")
    folders = tuple(getattr(module, "FOLDERS", ()))
    classes = getattr(module, "CLASSES", None)
    return PublicDataset(entry.name, entry.info.title or entry.name, card, folders,
                         None if classes is None else tuple(classes))


def render_data_cards() -> str:
    """The markdown of docs/data-cards.md."""
    datasets = public_datasets()
    excluded = [f"{d.title} `{name}`" for d in datasets for name in d.card.get("zero_shot_exclude", ())]
    template = Template((files("vlpbench.app") / "templates" / TEMPLATE).read_text(encoding="utf-8"))
    text = template.substitute(
        folders="  ".join(f"{d.card['folder']}/" for d in datasets),
        stage_zh=_stage("zh"), stage_en=_stage("en"),
        others=", ".join(excluded) or "none",
        seed=SPLIT_SEED, fractions=_shares(FRACTIONS), val_fractions=_shares(VAL_FRACTIONS),
        lesion_table=_label_table([ClassTerm(lesion, lesion) for lesion in LESIONS], "lesion", ()),
        datasets="\n\n".join(_section(d) for d in datasets),
        n_categories=len(CATEGORY_KEYS),
        key_examples=f"`{CATEGORY_KEYS[0]}`, `{CATEGORY_KEYS[1]}`, …, `{CATEGORY_KEYS[-1]}`",
    )
    return text.rstrip("\n") + "\n"


def write_data_cards(path: Path) -> Path:
    """Write `render_data_cards()` to `path` (folders created)."""
    return write_markdown(path, render_data_cards())


def write_markdown(path: Path, text: str) -> Path:
    """Write `text` to `path` atomically (folders created); a failure is a one-line error."""
    path = Path(path)
    try:
        atomic_write(path, lambda temp: temp.write_text(text, encoding="utf-8"))
    except OSError as exc:
        raise VlpbenchError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path


def _section(dataset: PublicDataset) -> str:
    card = dataset.card
    folder = f"`{card['folder']}/`"
    others = [f"`{name}/`" for name in dataset.folders if name != card["folder"]]
    if others:
        folder += f" (also found: {', '.join(others)})"
    lines = [f"## {dataset.title} — `{dataset.name}` ({card['task']})", ""]
    for key, label in FIELDS.items():
        if card.get(key):
            lines.append(f"- **{label}:** {_value(key, card[key])}")
        if key == "dataset":
            lines.append(f"- **Folder:** {folder}")
    for key, value in card.items():
        if key not in FIELDS and key not in SHOWN_ELSEWHERE:
            lines.append(f"- **{key}:** {_value(key, value)}")
    if dataset.classes is not None:
        lines += ["", _label_table(dataset.classes, "class", card.get("zero_shot_exclude", ()))]
    return "\n".join(lines)


def _value(key: str, value) -> str:
    if key == "zero_shot_exclude":
        return f"{', '.join(f'`{name}`' for name in value)} left out of zero-shot prompts"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


def _label_table(classes: Sequence[ClassTerm], column: str, not_prompted: Sequence[str]) -> str:
    """The label space: zh/en prompt term and knowledge-base key ("—" for a class with its own term)."""
    rows = [f"| {column} | zh | en | KB key |", "|---|---|---|---|"]
    for name, terms in label_card(classes, class_prompts(classes)).items():
        key = terms["kb_key"] or "—"
        if name in not_prompted:
            key += " (not prompted)"
        rows.append(f"| {name} | {terms['zh']} | {terms['en']} | {key} |")
    return "\n".join(rows)


def _stage(language: str) -> str:
    (term,) = class_prompts([ClassTerm("example", "dr", stage=3)])[language]
    return term


def _shares(fractions: dict[str, float]) -> str:
    return "/".join(f"{share:g}" for share in fractions.values())
