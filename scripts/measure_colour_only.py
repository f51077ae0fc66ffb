"""Colour-only probes of the synthetic evaluation sets (issue 24): macro AUC of a logistic regression
on 78 colour statistics per classification set, and pooled DSC of a per-pixel logistic regression
on the 3 × 3 RGB neighbourhood per segmentation set (the probes of tests/colour_probe.py).

    PYTHONPATH=src python scripts/measure_colour_only.py --side 32
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

from vlpbench.datasets.base import DatasetOptions
from vlpbench.datasets.synthetic.sets import SETS, build_classification_set, build_segmentation_set

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from colour_probe import pixel_probe_dsc, probe_auc  # noqa: E402 — the probes live beside the generator test

SEGMENTATION = (("syn-idrid", 21), ("syn-retinal-lesions", 22), ("syn-fgadr", 23))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=32, help="image side of the sets (the profile's eval.image_size)")
    parser.add_argument("--scale", type=float, default=1.0, help="set size scale (1 = the sets `bench run` uses)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    options = DatasetOptions(image_size=args.side, size_scale=args.scale, seed=args.seed)
    warnings.filterwarnings("ignore", message="Label not .* is present in all training examples")
    aucs = []
    for name, spec in SETS.items():
        data = build_classification_set(spec, options)
        splits = [(data.splits[s].images, data.splits[s].labels) for s in ("train", "val", "test")]
        aucs.append(probe_auc(*splits, data.multilabel, len(data.class_names)))
        print(f"{name:22s} colour-only macro AUC {aucs[-1]:5.1f}")
    print(f"{'Avg':22s} colour-only macro AUC {np.mean(aucs):5.1f}")
    for name, seed in SEGMENTATION:
        data = build_segmentation_set(name, seed, options)
        splits = [(data.splits[s].images, data.splits[s].masks) for s in ("train", "val", "test")]
        dsc = pixel_probe_dsc(*splits)
        lesions = ", ".join(f"{lesion} {value:.1f}" for lesion, value in zip(data.lesion_names, dsc))
        print(f"{name:22s} per-pixel DSC mean {np.mean(dsc):5.1f} ({lesions})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
