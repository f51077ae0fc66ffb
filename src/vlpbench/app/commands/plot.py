"""`bench plot`: t-SNE and Grad-CAM figures."""

from __future__ import annotations

import argparse

from rich.console import Console

from vlpbench.app.command_config import config_from
from vlpbench.app.plot import gradcam_figure, tsne_figure
from vlpbench.core.checks import expect_file
from vlpbench.core.errors import VlpbenchError


def main(args: argparse.Namespace, console: Console) -> int:
    if args.out is not None:
        expect_file(args.out, "--out")
    if args.name == "gradcam":
        if not args.lesion:
            raise VlpbenchError("bench plot gradcam: --lesion is required (a lesion type of the dataset, e.g. hemorrhage)")
        path = gradcam_figure(config_from(args), args.strategy, args.dataset, args.lesion, args.images, args.out)
    elif len(args.strategy) != 1:
        raise VlpbenchError(f"bench plot tsne: --strategy takes one strategy, got {len(args.strategy)}")
    else:
        path = tsne_figure(config_from(args), args.strategy[0], args.dataset, args.out)
    console.print(f"wrote {path}", highlight=False)
    return 0
