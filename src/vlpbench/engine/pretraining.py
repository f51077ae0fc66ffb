"""The generic pretraining loop. It calls `training_step` / `after_step` for any strategy and
never branches on a strategy's name. Written for torchrun: DistributedSampler shards the
corpus, gradients are averaged across ranks, only rank 0 writes."""

from __future__ import annotations

import csv
import math
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler

from vlpbench.core.config import PretrainConfig
from vlpbench.core.console import make_console
from vlpbench.core.distributed import is_main_process, rank, world_size
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.progress import progress_bar
from vlpbench.core.seeding import augmentation_seed, seeded, torch_generator
from vlpbench.datasets.base import PretrainCorpus
from vlpbench.encoders.preprocessing import augment, load_batch, site_augment
from vlpbench.engine.resume import load_training_state, save_training_state
from vlpbench.strategies.base import Batch, Strategy


@dataclass
class PretrainStats:
    """What a pretraining run cost and how it ended."""

    steps: int
    wall_time_s: float
    peak_memory_mb: float
    final_loss: float
    images_per_s: float
    resumed_from: int = 0  # the saved step a requeued job continued from (0: trained in one go)


def make_optimizer(strategy: Strategy, config: PretrainConfig) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW with the temperature, biases and norms out of weight decay; linear warmup + cosine."""
    no_decay = strategy.no_weight_decay()
    trainable = [(n, p) for n, p in strategy.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in trainable if n not in no_decay], "weight_decay": config.weight_decay},
        {"params": [p for n, p in trainable if n in no_decay], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=config.lr, betas=tuple(config.betas), eps=config.eps)

    def schedule(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / max(1, config.warmup_steps)
        progress = (step - config.warmup_steps) / max(1, config.steps - config.warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


class OptimizerStep:
    """One optimizer step for any strategy: forward (AMP on CUDA), NaN/inf check naming the
    strategy, step and loss parts, backward, gradient averaging across ranks, clipping, AdamW,
    schedule, then the strategy's `after_step` hook. Calling it returns the logged values; its
    optimizer, schedule and scaler are saved with a resume state (`engine/resume.py`)."""

    def __init__(self, strategy: Strategy, name: str, config: PretrainConfig, device: torch.device) -> None:
        self.strategy, self.name, self.config = strategy, name, config
        self.optimizer, self.scheduler = make_optimizer(strategy, config)
        self.use_amp = config.amp and device.type == "cuda"
        self.device_type = device.type
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)

    def __call__(self, batch: Batch, step: int) -> dict[str, float]:
        strategy, optimizer = self.strategy, self.optimizer
        with torch.autocast(device_type=self.device_type, enabled=self.use_amp):
            outputs = strategy.training_step(batch)
        loss = outputs["loss"]
        if not torch.isfinite(loss):
            parts = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in outputs.items())
            raise VlpbenchError(f"strategy '{self.name}' step {step}: loss is not finite ({parts})")
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        _average_gradients(strategy)
        self.scaler.unscale_(optimizer)
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(strategy.parameters(), self.config.grad_clip)
        self.scaler.step(optimizer)
        self.scaler.update()
        self.scheduler.step()
        strategy.after_step()
        return {"lr": self.scheduler.get_last_lr()[0], **{k: float(v.detach()) for k, v in outputs.items()}}


def optimizer_step_function(strategy: Strategy, name: str, config: PretrainConfig, device: torch.device) -> OptimizerStep:
    """The step function `pretrain` uses (also timed by `bench speed`)."""
    return OptimizerStep(strategy, name, config, device)


def pretrain(
    strategy: Strategy, name: str, corpus: PretrainCorpus, token_ids: torch.Tensor, attention_mask: torch.Tensor,
    config: PretrainConfig, image_size: int, seed: int, out_dir: Path | None, device: torch.device,
    resume_dir: Path | None = None, save_every: int = 0,
) -> PretrainStats:
    """Train `strategy` for `config.steps` optimizer steps on the corpus' train split. With
    `resume_dir`, continue from the state saved there (if any) and save one every `save_every`
    steps (`engine/resume.py`)."""
    with seeded(seed):
        return _train(strategy, name, corpus, token_ids, attention_mask, config, image_size, seed, out_dir, device,
                      resume_dir, save_every)


def _train(
    strategy: Strategy, name: str, corpus: PretrainCorpus, token_ids: torch.Tensor, attention_mask: torch.Tensor,
    config: PretrainConfig, image_size: int, seed: int, out_dir: Path | None, device: torch.device,
    resume_dir: Path | None, save_every: int,
) -> PretrainStats:
    strategy.to(device).train()
    step_once = optimizer_step_function(strategy, name, config, device)
    train_indices = corpus.train_indices
    sampler = DistributedSampler(range(len(train_indices)), num_replicas=world_size(), rank=rank(), shuffle=True, seed=seed, drop_last=True)
    local_batch = config.batch_size // world_size()
    if local_batch * world_size() != config.batch_size or local_batch > len(sampler):
        raise VlpbenchError(
            f"pretrain.batch_size {config.batch_size} must divide by {world_size()} processes and fit the "
            f"{len(train_indices)}-pair training split"
        )
    augmentation = torch_generator(augmentation_seed(seed, rank()))
    labels = torch.from_numpy(np.asarray(corpus.labels, dtype=np.float32))
    pairing = strategy.report_pairing(train_indices, seed)
    resumed = load_training_state(resume_dir, strategy, step_once, {"augmentation": augmentation})
    first, earlier_s = (resumed["step"], resumed["wall_time_s"]) if resumed else (0, 0.0)
    log_rows: list[dict[str, float]] = resumed["log_rows"] if resumed else []
    if resumed and is_main_process():
        make_console().print(f"pretrain {name}: resumed from step {first} ({resume_dir})", soft_wrap=True)
    batches = _batches(sampler, local_batch)
    for _ in range(first):  # the data order continues where the saved run stopped
        next(batches)
    start = time.perf_counter()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    with progress_bar(f"pretrain {name}", config.steps - first, enabled=is_main_process()) as advance:
        for step in range(first, config.steps):
            index = train_indices[next(batches)]
            images = augment(load_batch(corpus.images, index, image_size), augmentation)
            if config.site_augment > 0:
                images = site_augment(images, augmentation, config.site_augment)
            text = index if pairing is None else pairing[index]  # the report (and its labels) paired with each image
            batch = Batch(images, token_ids[text], attention_mask[text], labels[text]).to(device)
            row = {"step": step, **step_once(batch, step)}
            log_rows.append(row)
            elapsed = time.perf_counter() - start
            advance(f"loss {row['loss']:.4f} · {(step + 1 - first) * config.batch_size / elapsed:.0f} img/s")
            if resume_dir is not None and save_every and (step + 1) % save_every == 0 and step + 1 < config.steps:
                save_training_state(resume_dir, step + 1, strategy, step_once, {"augmentation": augmentation},
                                    {"log_rows": log_rows, "wall_time_s": earlier_s + time.perf_counter() - start})
    wall = earlier_s + time.perf_counter() - start
    if out_dir is not None and is_main_process():
        write_loss_log(log_rows, out_dir)
    return PretrainStats(
        steps=config.steps, wall_time_s=wall, peak_memory_mb=peak_memory_mb(device),
        final_loss=log_rows[-1]["loss"] if log_rows else float("nan"),
        images_per_s=config.steps * config.batch_size / max(wall, 1e-9), resumed_from=first,
    )


def _batches(sampler: DistributedSampler, batch_size: int):
    """Endless stream of index batches; the sampler reshuffles every epoch."""
    epoch = 0
    while True:
        sampler.set_epoch(epoch)
        order = np.fromiter(iter(sampler), dtype=np.int64)
        for begin in range(0, len(order) - batch_size + 1, batch_size):
            yield order[begin : begin + batch_size]
        epoch += 1


def _average_gradients(module: torch.nn.Module) -> None:
    if world_size() == 1:
        return
    for parameter in module.parameters():
        if parameter.grad is not None:
            dist.all_reduce(parameter.grad)
            parameter.grad.div_(world_size())


def peak_memory_mb(device: torch.device) -> float:
    """Peak CUDA memory, or the process' peak resident set size on the CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_loss_log(rows: list[dict[str, float]], out_dir: Path) -> None:
    """Per-step CSV (`loss.csv`) and a loss-curve PNG (`loss.png`)."""
    import matplotlib  # noqa: PLC0415 — matplotlib is heavy and only needed when a figure is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415 — matplotlib is heavy and only needed when a figure is drawn

    out_dir.mkdir(parents=True, exist_ok=True)
    keys = sorted({k for row in rows for k in row}, key=lambda k: (k != "step", k))
    with (out_dir / "loss.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    figure, axis = plt.subplots(figsize=(6, 3.5))
    steps = [row["step"] for row in rows]
    for key in keys:
        if key.startswith("loss"):
            axis.plot(steps, [row.get(key, float("nan")) for row in rows], label=key)
    axis.set_xlabel("step")
    axis.set_ylabel("loss")
    axis.legend()
    figure.tight_layout()
    figure.savefig(out_dir / "loss.png", dpi=100)
    plt.close(figure)
