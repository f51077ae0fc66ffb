"""Prepared GPU measurement (not yet run: no GPU in the session that wrote it): the paper
profile's pretraining step per strategy on one GPU — median step time, pairs/s, peak memory, and
MFU (achieved FLOP/s over the GPU's peak) — through the same code as `bench speed`.

    python scripts/gpu_step_check.py --peak-tflops 989 [--strategy clip,wsc] [--steps 20] [--set KEY=VALUE ...]

`--peak-tflops`: the GPU's dense peak for the precision used (AMP: bf16/fp16 tensor cores, e.g.
989 for an H100/H200 SXM). Pass `--set encoders.image.weights=…`/`encoders.text.hf_dir=…` to build
the towers from local checkpoints (timing does not need trained weights)."""

from __future__ import annotations

import argparse

import torch

from vlpbench.app.speed import measure_speed
from vlpbench.core.config import resolve_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peak-tflops", type=float, required=True)
    parser.add_argument("--strategy", default="clip,wsc,mflag,mae")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: this script measures the paper profile on a GPU")
    config = resolve_config("paper", overrides=["device=cuda", *args.set])
    batch = config.pretrain.batch_size
    print(f"{torch.cuda.get_device_name()}, batch {batch}, AMP {config.pretrain.amp}")
    print("strategy      step ms   pairs/s   peak GiB    TFLOP/s    MFU")
    for row in measure_speed(config, args.strategy.split(","), steps=args.steps):
        tflops = row.gflops / 1000
        print(f"{row.strategy:12} {row.step_ms:8.1f} {batch / (row.step_ms / 1000):9.1f} {row.peak_memory_mb / 1024:10.2f} "
              f"{tflops:10.1f} {tflops / args.peak_tflops:6.1%}")


if __name__ == "__main__":
    main()
