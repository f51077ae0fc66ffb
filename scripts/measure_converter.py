"""Measure the report converter against the latent truth of generated reports (zh and en).

Prints markdown: per-category precision/recall (sklearn), exact-match rate, throughput, unmapped
phrases, and the mean label entropy (eq 14) of the default sampler.

    PYTHONPATH=src python scripts/measure_converter.py --n 10000
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.metrics import precision_recall_fscore_support
from tabulate import tabulate

from vlpbench.datasets.labels.converter import ReportConverter
from vlpbench.datasets.labels.knowledge_base import CATEGORY_KEYS, load_knowledge_base
from vlpbench.datasets.labels.label_stats import mean_label_entropy
from vlpbench.datasets.synthetic.reports import write_report
from vlpbench.datasets.synthetic.sampler import findings_to_labels, sample_findings

LANGUAGES = ("zh", "en")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="generated reports per language")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    eyes = sample_findings(np.random.default_rng(args.seed), args.n)
    truth = findings_to_labels(eyes)
    per_lang = {}
    for lang in LANGUAGES:
        rng = np.random.default_rng(args.seed + 1)
        reports = [write_report(eye, rng, lang) for eye in eyes]
        converter = ReportConverter(load_knowledge_base(lang))
        start = time.perf_counter()
        labels, stats = converter.convert_many(reports)
        seconds = time.perf_counter() - start
        precision, recall, _, support = precision_recall_fscore_support(truth, labels, average=None,
                                                                        zero_division=0)
        per_lang[lang] = dict(labels=labels, stats=stats, rate=len(reports) / seconds,
                              precision=precision, recall=recall, support=support,
                              exact=float((labels == truth).all(axis=1).mean()))

    rows = [[key, int(per_lang["zh"]["support"][i])] +
            [f"{100 * per_lang[lang][m][i]:.2f}" for lang in LANGUAGES for m in ("precision", "recall")]
            for i, key in enumerate(CATEGORY_KEYS)]
    print(f"## Report converter vs latent truth ({args.n} generated reports per language, seed {args.seed})\n")
    print(tabulate(rows, headers=["category", "support", "zh P %", "zh R %", "en P %", "en R %"],
                   tablefmt="github"))
    summary = [["exact match %"] + [f"{100 * per_lang[lang]['exact']:.2f}" for lang in LANGUAGES],
               ["reports / s"] + [f"{per_lang[lang]['rate']:.0f}" for lang in LANGUAGES],
               ["reports with no finding"] + [per_lang[lang]["stats"].empty_reports for lang in LANGUAGES],
               ["unmapped phrases %"] + [f"{100 * per_lang[lang]['stats'].unmapped_rate:.2f}" for lang in LANGUAGES],
               ["mLE of converted labels"] + [f"{mean_label_entropy(per_lang[lang]['labels']):.4f}"
                                              for lang in LANGUAGES]]
    print("\n" + tabulate(summary, headers=["", *LANGUAGES], tablefmt="github"))
    start = time.perf_counter()
    sum(i for i in range(100_000))
    print(f"\nthroughput context: a pure-Python reference loop took {1e3 * (time.perf_counter() - start):.1f} ms "
          "here (≈ 4 ms on an idle core)")
    print(f"\nmLE (eq 14) of the default sampler's latent labels: {mean_label_entropy(truth):.4f} "
          f"(normal share {truth[:, 0].mean():.3f}, others share {truth[:, -1].mean():.3f}, "
          f"{truth[truth[:, 0] == 0].sum(axis=1).mean():.2f} labels per abnormal eye)")
    for lang in LANGUAGES:
        common = ", ".join(f"{text} ({count})" for text, count in per_lang[lang]["stats"].most_common(5))
        print(f"\nmost frequent unmapped phrases ({lang}): {common}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
