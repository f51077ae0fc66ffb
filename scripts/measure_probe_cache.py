"""Time the linear probe over five seeds with cached features against re-extracting them for
every seed (a fresh cache folder per seed). Quick-profile encoders, a random multi-label set.

    PYTHONPATH=src python scripts/measure_probe_cache.py [--train 2000 --val 500 --test 1000] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vlpbench.core.config import resolve_config
from vlpbench.datasets.base import ClassificationDataset, ClassificationSplit
from vlpbench.encoders.towers import build_image_encoder
from vlpbench.strategies.base import Strategy
from vlpbench.tasks.base import TaskContext
from vlpbench.tasks.linear_probe import LinearProbe


class ImageOnly(Strategy):
    has_text_tower = False

    def __init__(self, config) -> None:
        torch.nn.Module.__init__(self)
        self.config = config
        self.image_encoder = build_image_encoder(config.encoders)
        self.text_encoder = None


def random_dataset(sizes: tuple[int, int, int], image_size: int, classes: int) -> ClassificationDataset:
    rng = np.random.default_rng(0)
    splits = {}
    for name, n in zip(("train", "val", "test"), sizes):
        labels = (rng.random((n, classes)) < 0.2).astype(np.int64)
        images = rng.integers(0, 256, (n, image_size, image_size, 3), dtype=np.uint8)
        splits[name] = ClassificationSplit(images=images, labels=labels)
    names = [f"c{i}" for i in range(classes)]
    return ClassificationDataset("random", names, True, {"zh": names}, splits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=2000)
    parser.add_argument("--val", type=int, default=500)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--classes", type=int, default=8)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--set", nargs="*", default=[], help="config overrides KEY=VALUE")
    args = parser.parse_args()
    config = resolve_config(args.profile, overrides=args.set)
    torch.manual_seed(0)
    model = ImageOnly(config).to(args.device)
    dataset = random_dataset((args.train, args.val, args.test), config.eval.image_size, args.classes)
    task = LinearProbe(config)
    print(f"profile {args.profile}, device {args.device}, {args.seeds} seeds, "
          f"train/val/test {args.train}/{args.val}/{args.test} at {config.eval.image_size}px, "
          f"C grid {config.eval.probe_c_grid}, overrides {args.set}", flush=True)
    with tempfile.TemporaryDirectory() as root:
        cached = timed_seeds(task, model, dataset, args, lambda seed: Path(root) / "cached")
        print(f"cached features:        {sum(cached):.2f} s  per seed {fmt(cached)} (seed 0 extracts)", flush=True)
        fresh = timed_seeds(task, model, dataset, args, lambda seed: Path(root) / f"fresh{seed}")
        print(f"re-extracting per seed: {sum(fresh):.2f} s  per seed {fmt(fresh)}", flush=True)
    print(f"speed-up:               {sum(fresh) / sum(cached):.1f}x")


def timed_seeds(task: LinearProbe, model: Strategy, dataset: ClassificationDataset, args, cache_dir) -> list[float]:
    """Wall time of each seed's linear probe, the cache folder chosen per seed by `cache_dir`."""
    times = []
    for seed in range(args.seeds):
        start = time.perf_counter()
        task.evaluate(model, dataset, seed, 1.0, TaskContext(cache_dir(seed), "ckpt", args.device))
        times.append(time.perf_counter() - start)
    return times


def fmt(times: list[float]) -> str:
    return "[" + ", ".join(f"{t:.1f}" for t in times) + "]"


if __name__ == "__main__":
    main()
