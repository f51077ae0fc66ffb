"""Time one `seg` record under the frozen-encoder protocol with the maps encoded once and shared by
the lesion heads (`tasks/_seg_frozen.py`) against encoding every training batch again, on a
synthetic segmentation set at the profile's size, and check that both give the same numbers.

    PYTHONPATH=src python scripts/measure_seg_cache.py [--dataset syn-idrid] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import time

import torch

from vlpbench.core.config import resolve_config
from vlpbench.datasets.base import DatasetOptions
from vlpbench.datasets.synthetic.sets import build_segmentation_set
from vlpbench.encoders.towers import build_image_encoder
from vlpbench.strategies.base import Strategy
from vlpbench.tasks import _seg_frozen
from vlpbench.tasks.base import TaskContext
from vlpbench.tasks.seg import SegmentationTask

SEEDS = {"syn-idrid": 21, "syn-retinal-lesions": 22, "syn-fgadr": 23}


class ImageOnly(Strategy):
    """An untrained image encoder: the cost of a record does not depend on its weights."""

    has_text_tower = False

    def __init__(self, config) -> None:
        torch.nn.Module.__init__(self)
        self.image_encoder = build_image_encoder(config.encoders)
        self.text_encoder = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="syn-idrid", choices=sorted(SEEDS))
    parser.add_argument("--profile", default="quick")
    parser.add_argument("--set", nargs="*", default=[], help="config overrides KEY=VALUE")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = resolve_config(args.profile, overrides=args.set)
    options = config.task["seg"]
    dataset = build_segmentation_set(args.dataset, SEEDS[args.dataset], DatasetOptions(image_size=options.image_size))
    torch.manual_seed(0)
    model, task = ImageOnly(config), SegmentationTask(config)
    context = TaskContext(cache_dir=None, checkpoint_hash="x")  # type: ignore[arg-type]
    print(f"{args.dataset}, {len(dataset.split('train').images)} training images at {options.image_size} px, "
          f"{options.steps} steps × {len(dataset.lesion_names)} lesions, one thread", flush=True)
    timings, metrics = {}, {}
    for name, budget in (("maps encoded once", _seg_frozen.CACHE_BYTES), ("maps encoded per batch", 0)):
        _seg_frozen.CACHE_BYTES = budget
        start = time.perf_counter()
        metrics[name] = task.evaluate(model, dataset, seed=0, fraction=1.0, context=context).metrics
        timings[name] = time.perf_counter() - start
        print(f"{name:24s} {timings[name]:6.2f} s  DSC {metrics[name]['dsc']:.4f}", flush=True)
    once, per_batch = metrics.values()
    gap = max(abs(once[key] - per_batch[key]) for key in once)
    print(f"speed-up {timings['maps encoded per batch'] / timings['maps encoded once']:.2f}x; "
          f"largest metric difference {gap:.2e} points")


if __name__ == "__main__":
    main()
