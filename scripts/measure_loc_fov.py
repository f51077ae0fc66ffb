"""Is a loc map's pixel AUC about lesions or about the black corners? The text-guided (or probe)
Grad-CAM maps of `bench run --task loc`, scored over every pixel and only inside the field of view
(pixels whose brightest channel exceeds 20), with the map's mean outside / inside the field of view.
Checkpoints come from (or are pretrained into) `--runs`.

    PYTHONPATH=src python scripts/measure_loc_fov.py --runs runs --set pretrain.steps=300
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from vlpbench.core.config import resolve_config
from vlpbench.encoders.preprocessing import load_batch
from vlpbench.engine.run_cache import Workspace
from vlpbench.tasks._gradcam import at_input_size
from vlpbench.tasks._loc_metrics import pixel_auc
from vlpbench.tasks.loc import maps_by_lesion, resized

FIELD_OF_VIEW = 20  # a pixel is in the fundus when its brightest channel exceeds this (the corners are black)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="runs")
    parser.add_argument("--strategy", default="clip,random-init")
    parser.add_argument("--dataset", default="syn-idrid")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--side", type=int, default=32)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    workspace = Workspace(resolve_config("quick", overrides=[f"runs_dir={args.runs}", *args.set]))
    for strategy in args.strategy.split(","):
        for seed in range(args.seeds):
            model = at_input_size(workspace.checkpoint(strategy, seed).model.eval(), args.side)
            dataset = workspace.dataset(args.dataset, args.side)
            test = dataset.split("test")
            masks = np.stack([np.asarray(test.masks[i], bool) for i in range(len(test.images))])
            inside = np.stack([np.asarray(test.images[i]).max(-1) > FIELD_OF_VIEW for i in range(len(test.images))])
            maps_for = maps_by_lesion(model, dataset, args.side, 64)
            everywhere, in_view, ratio = [], [], []
            for lesion in range(len(dataset.lesion_names)):
                present = np.flatnonzero(masks[:, lesion].reshape(len(masks), -1).any(1))
                if maps_for.get(lesion) is None or not len(present):
                    continue
                heatmaps = resized(maps_for[lesion](load_batch(test.images, present, args.side)), masks.shape[-2:])
                for heatmap, mask, view in zip(heatmaps, masks[present, lesion], inside[present]):
                    everywhere.append(pixel_auc(heatmap, mask))
                    in_view.append(pixel_auc(heatmap[view], mask[view]))
                    ratio.append(heatmap[~view].mean() / max(heatmap[view].mean(), 1e-9))
            print(f"{strategy} run {seed}: pixel AUC {100 * np.nanmean(everywhere):.1f} everywhere, "
                  f"{100 * np.nanmean(in_view):.1f} inside the field of view; map outside / inside {np.mean(ratio):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
