"""`bench data write` → the same builders read the PNG + CSV layout back (`--data-root`);
`bench data preview` draws a contact sheet."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vlpbench.app.cli import main
from vlpbench.core.config import resolve_config
from vlpbench.core.registry import TASKS
from vlpbench.datasets.labels.knowledge_base import CATEGORY_KEYS
from vlpbench.datasets.manifest import load_manifest_corpus
from vlpbench.engine.run_cache import Workspace


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("written")
    runs = root / "runs"
    assert main(["data", "write", "--out", str(root / "out"), "--profile", "smoke", "--runs", str(runs)]) == 0
    return root / "out", runs


@pytest.mark.parametrize("name, task", [("syn-messidor", "linear-probe"), ("syn-rfmid", "linear-probe"), ("syn-idrid", "seg")])
def test_written_sets_read_back_identically(written, name, task):
    out, runs = written
    generated_config = resolve_config("smoke", overrides=[f"runs_dir={runs}"])
    size = TASKS.get(task).image_size(generated_config)
    generated = Workspace(generated_config).dataset(name, size)
    read = Workspace(resolve_config("smoke", overrides=[f"runs_dir={runs}", f"eval.data_root={out}"])).dataset(name, size)
    assert read.card["source"] == str(out / name)
    for split in ("train", "val", "test"):
        a, b = generated.split(split), read.split(split)
        np.testing.assert_array_equal(np.asarray(a.images), np.asarray(b.images))
        if name == "syn-idrid":
            np.testing.assert_array_equal(np.asarray(a.masks), np.asarray(b.masks))
        else:
            np.testing.assert_array_equal(np.asarray(a.labels), np.asarray(b.labels))


def test_written_corpus_is_a_manifest(written):
    out, runs = written
    corpus = Workspace(resolve_config("smoke", overrides=[f"runs_dir={runs}"])).corpus()
    table = pd.read_csv(out / "syn-corpus" / "manifest.csv")
    assert list(table.columns[2:2 + len(CATEGORY_KEYS)]) == list(CATEGORY_KEYS)
    read = load_manifest_corpus(out / "syn-corpus" / "manifest.csv", 32)
    np.testing.assert_array_equal(np.asarray(read.labels), np.asarray(corpus.labels))
    assert read.reports == corpus.reports


def test_preview_contact_sheet(tmp_path, written):
    _, runs = written
    out = tmp_path / "grid.png"
    assert main(["data", "preview", "--out", str(out), "--profile", "smoke", "--runs", str(runs)]) == 0
    assert out.stat().st_size > 10_000
