"""docs/data-cards.md is generated from the public loaders' data cards and must not drift."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlpbench.app.cli import main
from vlpbench.app.data_cards import public_datasets, render_data_cards
from vlpbench.core.registry import DATASETS
from vlpbench.datasets.labels.knowledge_base import KNOWLEDGE_DIR

DOC = Path(__file__).resolve().parents[1] / "docs" / "data-cards.md"
REGENERATE = "regenerate it with `bench list datasets --cards docs/data-cards.md`"


def test_committed_doc_matches_the_generated_one():
    assert DOC.read_text(encoding="utf-8") == render_data_cards(), f"docs/data-cards.md is stale: {REGENERATE}"


def test_cli_writes_the_same_markdown(tmp_path, capsys):
    out = tmp_path / "cards" / "data-cards.md"
    assert main(["list", "datasets", "--cards", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == render_data_cards()
    assert f"wrote{out}" in "".join(capsys.readouterr().out.split())  # rich may wrap the path


def test_cards_need_the_datasets_listing(tmp_path, capsys):
    assert main(["list", "strategies", "--cards", str(tmp_path / "x.md")]) == 2
    assert "--cards goes with 'datasets'" in capsys.readouterr().err
    assert not (tmp_path / "x.md").exists()


def test_every_public_loader_has_a_section_in_registry_order():
    text = render_data_cards()
    sections = [d.name for d in public_datasets()]
    assert sections == [e.name for e in DATASETS.ordered() if "public" in e.info.tags]
    assert len(sections) == 8
    positions = [text.index(f"— `{name}` (") for name in sections]
    assert positions == sorted(positions)
    for dataset in public_datasets():
        for key in ("dataset", "layout", "split", "licence", "citation"):
            assert str(dataset.card[key]) in text, (dataset.name, key)


def test_doc_names_the_packaged_knowledge_base():
    text = render_data_cards()
    assert "src/vlpbench/datasets/labels/knowledge/{zh,en}.yaml" in text
    assert (KNOWLEDGE_DIR / "zh.yaml").is_file() and (KNOWLEDGE_DIR / "en.yaml").is_file()
    assert "datasets/knowledge/" not in text


@pytest.mark.parametrize("name, row", [
    ("rfmid", "| OTHER | 其他 | other findings | others (not prompted) |"),
    ("odir", "| H | 眼底动脉硬化 | retinal arteriosclerosis | arteriosclerosis |"),
    ("messidor", "| grade2 | 糖尿病视网膜病变3期 | diabetic retinopathy stage 3 | dr |"),
    ("rfmid", "| BRVO | 视网膜分支静脉阻塞 | branch retinal vein occlusion | — |"),
])
def test_label_tables_carry_the_prompt_terms(name, row):
    text = render_data_cards()
    section = text[text.index(f"— `{name}` ("):]
    assert row in section.split("\n## ", 1)[0]


# --- docs/synthetic-data-cards.md (`bench data cards`) ------------------------------------------

SYNTHETIC_DOC = DOC.parent / "synthetic-data-cards.md"


def test_synthetic_cards_have_every_synthetic_set_and_their_colour_only_probe(tmp_path, capsys):
    import re

    out = tmp_path / "synthetic-data-cards.md"
    assert main(["data", "cards", "--out", str(out), "--profile", "smoke", "--runs", str(tmp_path / "runs")]) == 0
    text = out.read_text(encoding="utf-8")
    for name in DATASETS.tagged("synthetic"):
        assert f"## `{name}` — " in text, name
    aucs = [float(value) for value in re.findall(r"`colour-only` probe, test macro AUC:\*\* ([\d.]+)", text)]
    assert len(aucs) == 5 and all(0 <= auc <= 100 for auc in aucs)
    average = float(re.search(r"averages a test macro AUC of\s+\*\*([\d.]+)\*\*", text).group(1))
    assert average == pytest.approx(sum(aucs) / len(aucs), abs=0.06)
    assert "| hemorrhage | " in text and "grade 0 = healthy eyes" in text


@pytest.mark.slow
def test_committed_synthetic_cards_match_the_generated_ones(tmp_path):
    from vlpbench.app.synthetic_cards import render_synthetic_cards
    from vlpbench.core.config import resolve_config

    config = resolve_config("quick", overrides=[f"runs_dir={tmp_path}/runs"])
    assert SYNTHETIC_DOC.read_text(encoding="utf-8") == render_synthetic_cards(config), (
        "docs/synthetic-data-cards.md is stale: regenerate it with `bench data cards --out docs/synthetic-data-cards.md`"
    )
