"""Seeded fuzz: 10,000+ hostile reports through the converter and through `bench labels`.

Reports are random mixtures of knowledge-base terms and cues (negations, coordinators,
measurement terms), punctuation (，；。、,;.), brackets, digits, ratios such as 0/0 and 1:0,
1e999, digit strings longer than Python converts to int, CR/LF/NUL, quotes, tabs and rich
markup such as [/b]. Nothing may raise, and the CSV written by `bench labels` must read back to
the input columns exactly, one row per report.
"""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd

from vlpbench.app.cli import main
from vlpbench.datasets.labels.converter import ReportConverter
from vlpbench.datasets.labels.knowledge_base import CATEGORY_KEYS, load_knowledge_base

N_REPORTS = 10_000
NOISE = ["，", "；", "。", "、", ",", ";", ".", ":", "/", "(", ")", "（", "）", "[", "]", "【", "】", "?", "？", "-", "(-)",
         " ", "\t", "\r", "\n", "\r\n", "\x00", '"', "'", "\\", "\u2028", "\ufeff", "Ⅳ", "期", "stage", "=", ">", "<",
         "[/b]", "[bold]", "[/]", "[link=x]", "0/0", "1:0", "0:0", "1e999", "-1", ".5.5", "0.5", "2:3", "1比0", "NaN"]


def hostile_reports(seed: int, n: int) -> list[str]:
    rng = np.random.default_rng(seed)
    vocabulary = []
    for lang in ("zh", "en"):
        kb = load_knowledge_base(lang)
        vocabulary += kb.surface_forms()
        vocabulary += [word for words in kb.cues.values() for word in words]
        vocabulary += [term for rule in kb.measurements for term in (rule.term, *rule.aliases)]
    reports = []
    for _ in range(n):
        parts = []
        for _ in range(int(rng.integers(0, 14))):
            roll = rng.random()
            if roll < 0.45:
                parts.append(vocabulary[int(rng.integers(len(vocabulary)))])
            elif roll < 0.85:
                parts.append(NOISE[int(rng.integers(len(NOISE)))])
            elif roll < 0.995:
                parts.append(str(int(rng.integers(0, 10**6))) + rng.choice(["", ".", ":", "/", "比"]))
            else:  # a number longer than int() converts (4,300 digits)
                parts.append("9" * int(rng.integers(4300, 6000)))
        reports.append("".join(parts))
    return reports


def test_hostile_reports_never_crash_the_converter():
    reports = hostile_reports(0, N_REPORTS)
    for lang in ("zh", "en"):
        labels, stats = ReportConverter(load_knowledge_base(lang)).convert_many(reports)
        assert labels.shape == (N_REPORTS, len(CATEGORY_KEYS)) and set(np.unique(labels)) <= {0, 1}
        assert stats.reports == N_REPORTS and stats.unmapped_phrases <= stats.phrases
        assert len(stats.summary().splitlines()) == 2  # control characters are shown escaped


def test_hostile_reports_round_trip_through_bench_labels(tmp_path, capsys):
    reports = hostile_reports(1, N_REPORTS)
    ids = [f"id{i},\r\n\"{i}\"" for i in range(N_REPORTS)]  # hostile ids too
    source = tmp_path / "reports.csv"
    with source.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, quoting=csv.QUOTE_ALL)
        writer.writerow(["id", "report"])
        writer.writerows(zip(ids, reports))
    out = tmp_path / "labels.csv"
    assert main(["labels", str(source), "--out", str(out)]) == 0, capsys.readouterr().err
    back = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert back["id"].tolist() == ids and back["report"].tolist() == reports
    expected, _ = ReportConverter(load_knowledge_base("zh")).convert_many(reports)
    np.testing.assert_array_equal(back[list(CATEGORY_KEYS)].to_numpy(dtype=np.uint8), expected)
    assert "reports" in capsys.readouterr().out
