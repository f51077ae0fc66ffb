"""The private-corpus manifest: CSV/JSONL, labels from columns or from the report converter, a
seeded class-balanced validation split, converter statistics, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import public_fixtures as fx
from vlpbench.core.config import CorpusConfig
from vlpbench.core.errors import VlpbenchError
from vlpbench.datasets.labels.converter import ReportConverter
from vlpbench.datasets.labels.knowledge_base import CATEGORY_KEYS, load_knowledge_base
from vlpbench.datasets.manifest import load_manifest_corpus

REPORTS = [
    "双眼糖尿病视网膜病变III期，可见出血及硬性渗出",
    "眼底未见明显异常",
    "视盘杯盘比0.7，疑似青光眼",
    "黄斑区玻璃膜疣",
    "建议随诊",  # advice only: no findings
    "豹纹状眼底，视盘周围萎缩",
]


def write_images(folder: Path, n: int) -> list[str]:
    names = []
    for i in range(n):
        fx.image(folder / "images" / f"eye{i}.jpg", seed=i, size=(20 + i, 16))
        names.append(f"images/eye{i}.jpg")
    return names


def make_csv(tmp_path: Path, n: int = 24) -> Path:
    names = write_images(tmp_path, n)
    manifest = tmp_path / "pairs.csv"
    pd.DataFrame({"image": names, "report": [REPORTS[i % len(REPORTS)] for i in range(n)]}).to_csv(manifest, index=False)
    return manifest


def error_of(call, *args, **kwargs) -> str:
    with pytest.raises(VlpbenchError) as info:
        call(*args, **kwargs)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_csv_labels_come_from_the_converter(tmp_path, capsys):
    manifest = make_csv(tmp_path)
    corpus = load_manifest_corpus(manifest, 16)
    converter = ReportConverter(load_knowledge_base("zh"))
    expected, stats = converter.convert_many(corpus.reports)
    np.testing.assert_array_equal(corpus.labels, expected)
    assert corpus.labels.shape == (24, 33) and corpus.labels.dtype == np.uint8
    glaucoma = [CATEGORY_KEYS[i] for i in np.flatnonzero(corpus.labels[2])]
    assert "glaucoma" in glaucoma and "large_optic_cup" in glaucoma
    assert corpus.images[0].shape == (16, 16, 3)
    assert corpus.card["labels_from_converter"] == 24 and corpus.card["labels_from_columns"] == 0
    assert corpus.card["no_findings"] == 4 == int((expected.sum(axis=1) == 0).sum())
    assert corpus.card["unmapped_phrases"] == stats.unmapped_phrases
    assert corpus.card["images_cached_in_memory"] and corpus.card["mle"] > 0
    printed = capsys.readouterr().err
    assert "unmapped phrases" in printed and "mean label entropy" in printed and "no findings" in printed


def test_validation_is_class_balanced_seeded_and_disjoint(tmp_path):
    manifest = make_csv(tmp_path, n=60)
    corpus = load_manifest_corpus(manifest, 8)
    again = load_manifest_corpus(manifest, 8)
    np.testing.assert_array_equal(corpus.val_indices, again.val_indices)
    assert len(corpus.val_indices) > 0
    assert not set(corpus.val_indices) & set(corpus.train_indices)
    assert len(corpus.val_indices) + len(corpus.train_indices) == 60
    per_category = corpus.card["validation"]["per_category"]
    held_out = corpus.labels[corpus.val_indices]
    for column in np.flatnonzero(corpus.labels.sum(axis=0)):
        assert held_out[:, column].sum() >= min(per_category, corpus.labels[:, column].sum())


def test_jsonl_label_columns_win_where_filled(tmp_path):
    names = write_images(tmp_path, 3)
    given = {key: 0 for key in CATEGORY_KEYS}
    given["cataract"] = 1
    rows = [
        {"image": names[0], "report": REPORTS[1], **given},  # labels given: the report is not converted
        {"image": names[1], "report": REPORTS[2], **{key: None for key in CATEGORY_KEYS}},  # converter
        {"image": str((tmp_path / names[2]).resolve()), "report": REPORTS[3], **{key: None for key in CATEGORY_KEYS}},
    ]
    manifest = tmp_path / "pairs.jsonl"
    manifest.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n", encoding="utf-8")
    corpus = load_manifest_corpus(manifest, 8, converter=ReportConverter(load_knowledge_base("zh")))
    assert [CATEGORY_KEYS[i] for i in np.flatnonzero(corpus.labels[0])] == ["cataract"]
    assert "glaucoma" in [CATEGORY_KEYS[i] for i in np.flatnonzero(corpus.labels[1])]
    assert corpus.card["labels_from_columns"] == 1 and corpus.card["labels_from_converter"] == 2
    assert corpus.images.paths[2].is_absolute() and len(corpus.images) == 3


def test_a_custom_converter_is_used(tmp_path):
    class Everything:
        def convert_many(self, texts):
            from vlpbench.datasets.labels.converter import UnmappedStats

            texts = list(texts)
            return np.ones((len(texts), 33), np.uint8), UnmappedStats(reports=len(texts))

    corpus = load_manifest_corpus(make_csv(tmp_path, n=4), 8, converter=Everything())
    assert corpus.labels.all() and corpus.card["no_findings"] == 0


def test_corpus_config_manifest_builds_through_the_corpus_entry_point(tmp_path):
    from vlpbench.datasets.corpus import build_corpus

    corpus = build_corpus(CorpusConfig(manifest=str(make_csv(tmp_path, n=6)), image_size=8))
    assert corpus.name == "pairs" and len(corpus.reports) == 6 and corpus.images[0].shape == (8, 8, 3)


def test_missing_image_column_is_one_line(tmp_path):
    manifest = tmp_path / "pairs.csv"
    pd.DataFrame({"path": ["a.jpg"], "report": ["正常"]}).to_csv(manifest, index=False)
    message = error_of(load_manifest_corpus, manifest, 8)
    assert str(manifest) in message and "'image'" in message


def test_missing_report_column_in_jsonl(tmp_path):
    manifest = tmp_path / "pairs.jsonl"
    manifest.write_text(json.dumps({"image": "a.jpg"}) + "\n")
    assert "'report'" in error_of(load_manifest_corpus, manifest, 8)


def test_bad_jsonl_line_is_named(tmp_path):
    manifest = tmp_path / "pairs.jsonl"
    manifest.write_text(json.dumps({"image": "a.jpg", "report": "正常"}) + "\n{broken\n")
    assert "line 2" in error_of(load_manifest_corpus, manifest, 8)


def test_partial_label_columns_are_refused(tmp_path):
    manifest = make_csv(tmp_path, n=2)
    frame = pd.read_csv(manifest).assign(dr=[1, 0])
    frame.to_csv(manifest, index=False)
    message = error_of(load_manifest_corpus, manifest, 8)
    assert "missing 'normal'" in message


def test_label_value_outside_0_1_is_named(tmp_path):
    manifest = make_csv(tmp_path, n=2)
    frame = pd.read_csv(manifest).assign(**{key: 0 for key in CATEGORY_KEYS})
    frame.loc[1, "glaucoma"] = 2
    frame.to_csv(manifest, index=False)
    message = error_of(load_manifest_corpus, manifest, 8)
    assert "pair 2" in message and "'glaucoma'" in message


def test_missing_image_file_and_empty_report_are_named(tmp_path):
    manifest = make_csv(tmp_path, n=2)
    (tmp_path / "images" / "eye1.jpg").unlink()
    assert "eye1.jpg" in error_of(load_manifest_corpus, manifest, 8)
    pd.DataFrame({"image": ["images/eye0.jpg"], "report": [""]}).to_csv(manifest, index=False)
    assert "empty report" in error_of(load_manifest_corpus, manifest, 8)


def test_missing_manifest_and_empty_manifest(tmp_path):
    assert "does not exist" in error_of(load_manifest_corpus, tmp_path / "none.csv", 8)
    assert "does not exist" in error_of(load_manifest_corpus, tmp_path / "none.jsonl", 8)
    empty = tmp_path / "empty.csv"
    empty.write_text("image,report\n")
    assert "no image–report pairs" in error_of(load_manifest_corpus, empty, 8)
