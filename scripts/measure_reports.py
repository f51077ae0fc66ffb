"""Shortcuts and truncation in the synthetic reports: how well report length alone predicts
`normal` (ROC AUC; 0.5 = no shortcut) and how many reports fit the text tower's max_length.

    PYTHONPATH=src python scripts/measure_reports.py --n 3000
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.metrics import roc_auc_score

from vlpbench.core.data_seeding import data_rng
from vlpbench.datasets.labels.knowledge_base import load_knowledge_base
from vlpbench.datasets.synthetic.generate import draw_findings
from vlpbench.datasets.synthetic.reports import write_report
from vlpbench.encoders.tokenizer import CharTokenizer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-length", type=int, default=64)
    args = parser.parse_args(argv)
    rng = data_rng(args.seed)
    eyes = draw_findings(rng, args.n, normal_share=0.35, others_share=0.03)
    reports = [write_report(eye, rng) for eye in eyes]
    normal = np.array([set(eye.keys) == {"normal"} for eye in eyes])
    characters = np.array([len(r) for r in reports])
    print(f"reports: {args.n}, normal share {normal.mean():.3f}")
    print(f"ROC AUC of (shorter report) for normal: {roc_auc_score(normal, -characters):.3f}")
    print(f"characters: mean normal {characters[normal].mean():.1f}, abnormal {characters[~normal].mean():.1f}")
    for name, terms in (("term tokenizer", load_knowledge_base("zh").surface_forms()), ("character tokenizer", [])):
        tokenizer = CharTokenizer.build(reports, terms=terms)
        _, mask = tokenizer.encode(reports, 512)
        tokens = mask.sum(1).numpy()
        p50, p99 = np.percentile(tokens, [50, 99])
        print(f"{name}: tokens incl. [CLS]/[SEP] p50 {p50:.0f}, p99 {p99:.0f}, max {tokens.max()}; "
              f"uncut at max_length {args.max_length}: {100 * (tokens <= args.max_length).mean():.2f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
