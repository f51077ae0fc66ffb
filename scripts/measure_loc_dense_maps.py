"""Is loc's untrained floor a Grad-CAM artefact? Score gradient-free maps instead (issue 24).

Each patch token of the image encoder is projected and L2-normalised like a whole image, and its
cosine with the lesion prompt (the `loc` task's knowledge-base term) is that token's map value
(MaskCLIP-style dense similarity, Zhou et al. 2022). The maps are resized to the masks and scored
with `loc`'s pixel AUC and pointing game over the test images holding the lesion, at the `loc`
side (64 px, a 16 × 16 token grid on the quick ViT), on the checkpoints of a run cache:

    python scripts/measure_loc_dense_maps.py --runs runs --strategy clip,medclip,unicl,random-init --seeds 0,1

Prints one line per (set, strategy): per-lesion pixel AUC and pointing (%), mean over the seeds,
and the lesions' mean AUC. Checkpoints missing from the cache are pretrained first (identically).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from vlpbench.core.config import resolve_config
from vlpbench.encoders.preprocessing import load_batch
from vlpbench.engine.run_cache import Workspace
from vlpbench.tasks._gradcam import at_input_size
from vlpbench.tasks._loc_metrics import pixel_auc, pointing_hit
from vlpbench.tasks.loc import DEFAULT_DATASETS, lesion_prompts, resized

SIDE = 64


@torch.no_grad()
def dense_maps(model, images: torch.Tensor, prompt: torch.Tensor) -> np.ndarray:
    """(n, g, g) cosine of every projected patch token with `prompt`."""
    encoder = model.image_encoder
    tokens = encoder.backbone.forward_features(images)[:, encoder.backbone.num_prefix_tokens:]
    similarity = torch.nn.functional.normalize(encoder.proj(tokens), dim=-1) @ prompt
    grid = int(round(similarity.shape[1] ** 0.5))
    return similarity.reshape(len(images), grid, grid).numpy()


def scores(model, dataset) -> dict[str, tuple[float, float]]:
    """lesion → (mean pixel AUC, mean pointing hit) in % over the test images holding it."""
    prompts = lesion_prompts(model, list(dataset.lesion_names))
    test = dataset.split("test")
    masks = np.stack([np.asarray(test.masks[i], dtype=bool) for i in range(len(test.images))])
    out = {}
    for lesion, name in enumerate(dataset.lesion_names):
        present = np.flatnonzero(masks[:, lesion].reshape(len(masks), -1).any(axis=1))
        auc, hits = [], []
        for start in range(0, len(present), 64):
            chunk = present[start:start + 64]
            maps = resized(dense_maps(model, load_batch(test.images, chunk, SIDE), prompts[lesion]), masks.shape[-2:])
            for heatmap, mask in zip(maps, masks[chunk, lesion]):
                auc.append(100 * pixel_auc(heatmap, mask))
                hits.append(100 * pointing_hit(heatmap, mask))
        out[name] = (float(np.nanmean(auc)), float(np.nanmean(hits)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="runs")
    parser.add_argument("--strategy", default="clip,medclip,unicl,random-init")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--set", action="append", default=["eval.test_scale=4"], help="config override a.b=c")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = resolve_config("quick", overrides=[f"runs_dir={args.runs}", *args.set])
    workspace = Workspace(config)
    for name in DEFAULT_DATASETS:
        dataset = workspace.dataset(name, SIDE)
        for strategy in args.strategy.split(","):
            runs = [scores(at_input_size(workspace.checkpoint(strategy, int(seed)).model.eval(), SIDE), dataset)
                    for seed in args.seeds.split(",")]
            lesions = "  ".join(f"{lesion}: AUC {np.mean([r[lesion][0] for r in runs]):.1f}, pointing "
                                f"{np.mean([r[lesion][1] for r in runs]):.1f}" for lesion in runs[0])
            mean = np.mean([np.mean([v[0] for v in r.values()]) for r in runs])
            print(f"{name} {strategy}: {lesions}  | mean AUC {mean:.1f}", flush=True)


if __name__ == "__main__":
    main()
