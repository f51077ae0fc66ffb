"""Are a synthetic set's labels learnable from its pixels? A four-layer CNN, or the quick profile's
ViT (d=64, depth 2, patch 4) with a chosen pooling, trained with labels on the set's training split
(flip augmentation, best epoch on val), macro AUC on test: the yardstick beside the colour-only
probe (scripts/measure_colour_only.py), and the check of which pooling lets the ViT see findings.

    PYTHONPATH=src python scripts/measure_learnability.py --set syn-fives --side 32
    PYTHONPATH=src python scripts/measure_learnability.py --set syn-fives --tower vit --pool max
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import timm
import torch
from torch import nn

from vlpbench.datasets.base import DatasetOptions
from vlpbench.datasets.synthetic.sets import SETS, build_classification_set
from vlpbench.tasks._metrics import macro_metrics, one_hot


def _cnn(classes: int, width: int = 32) -> nn.Sequential:
    def block(c_in: int, c_out: int) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()]

    return nn.Sequential(*block(3, width), *block(width, width), nn.MaxPool2d(2), *block(width, 2 * width),
                         nn.MaxPool2d(2), *block(2 * width, 2 * width), nn.AdaptiveMaxPool2d(1), nn.Flatten(),
                         nn.Linear(2 * width, classes))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="syn-fives", choices=list(SETS))
    parser.add_argument("--side", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tower", default="cnn", choices=["cnn", "vit"])
    parser.add_argument("--pool", default="max", choices=["token", "avg", "max"], help="the ViT's pooling")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    data = build_classification_set(SETS[args.set], DatasetOptions(image_size=args.side, seed=args.seed))
    images = {s: torch.tensor(np.asarray(data.splits[s].images), dtype=torch.float32).permute(0, 3, 1, 2) / 255
              for s in ("train", "val", "test")}
    labels = {s: data.splits[s].labels for s in images}
    classes = len(data.class_names)
    net = _cnn(classes) if args.tower == "cnn" else timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, num_classes=classes, img_size=args.side, patch_size=4,
        embed_dim=64, depth=2, num_heads=2, global_pool=args.pool)
    optimiser = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-3)
    target = torch.tensor(labels["train"]).float() if data.multilabel else torch.tensor(labels["train"]).long()
    loss_fn = nn.BCEWithLogitsLoss() if data.multilabel else nn.CrossEntropyLoss()

    def auc(split: str) -> float:
        net.eval()
        with torch.no_grad():
            logits = net(images[split])
        net.train()
        scores = torch.sigmoid(logits) if data.multilabel else torch.softmax(logits, 1)
        return macro_metrics(one_hot(labels[split], data.multilabel, classes), scores.numpy())["auc"]

    best_val, test, start = -1.0, float("nan"), time.time()
    for _ in range(args.epochs):
        order = torch.randperm(len(target))
        for i in range(0, len(order), 32):
            batch = order[i:i + 32]
            x = images["train"][batch]
            x = torch.where(torch.rand(len(batch), 1, 1, 1) < 0.5, x.flip(3), x)
            optimiser.zero_grad()
            loss_fn(net(x), target[batch]).backward()
            optimiser.step()
        val = auc("val")
        if val > best_val:
            best_val, test = val, auc("test")
    tower = "CNN" if args.tower == "cnn" else f"ViT ({args.pool} pool)"
    print(f"{args.set} {args.side} px supervised {tower}: best val AUC {best_val:.1f}, test AUC {test:.1f} "
          f"({time.time() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
