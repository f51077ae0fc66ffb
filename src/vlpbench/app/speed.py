"""`bench speed`: what one pretraining optimizer step costs, per strategy.

Each strategy is built *untrained*, exactly as the run cache builds it (a `StrategyContext`
with the shared tokenizer and text-encoder factory), and runs `warmup` + `steps` optimizer
steps on corpus batches made as `pretrain` makes them (augmented images, tokenised reports,
converter labels). A step is one iteration of `pretrain`: `training_step` (forward + loss),
backward, gradient clipping, AdamW, LR schedule and `after_step` (momentum update, enqueue).
Batches are built before timing, so data loading (the same for every strategy) is excluded.

Measured per strategy:
- **step ms** — median wall time of the `steps` timed steps (CUDA synchronised);
- **× clip** — that median over the median of a `clip` reference model's steps, timed
  alternately with this strategy's on the same batches, so a shared machine's changing load
  cancels out (the `clip` row thus shows the measurement noise, ≈ 1.00);
- **loss ms / loss %** — time inside the strategy's loss functions (those exported by
  `vlpbench.strategies.losses`, forward *and* backward), from a second pass of `steps` steps in
  which every such call runs as an isolated autograd island whose forward and backward are
  timed; the share is the median over that pass of loss time / step time. "n/a" when a
  strategy computes its loss elsewhere. Encoders, momentum encoders and decoders are not loss.
- **peak MB** — memory this strategy adds at its peak (model, optimizer state, activations,
  queues, teacher): CUDA max allocated, or on the CPU the resident-set high-water mark (VmHWM,
  reset via Linux `/proc/self/clear_refs`), tracked over the loss-timing pass (the strategy's
  own steps only), minus what was in use just before the strategy was built. Where the CPU
  mark cannot be reset it is the process' peak so far (flagged in the caption).
- **GFLOP/s** — FLOPs of one step counted by torch's `FlopCounterMode` (matmuls, convolutions,
  attention; forward and backward) over the median step time.

Initial weights do not change what a step costs, so the shared text encoder is not
MLM-warm-started here, and strategies another one `requires` (DeiT's `clip-resnet` teacher)
are built untrained too — unless `trained_requirements=True`, which takes them (pretraining
them if needed) from the run cache instead.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import gc
import statistics
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator
from unittest import mock

import numpy as np
import torch
from rich.table import Table
from torch.utils.flop_counter import FlopCounterMode

from vlpbench.core.config import RunConfig
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import STRATEGIES
from vlpbench.core.seeding import seed_generator, seeded
from vlpbench.core.threads import limit_threads
from vlpbench.encoders.preprocessing import augment, load_batch
from vlpbench.encoders.towers import describe_encoders
from vlpbench.engine.grid import expand
from vlpbench.engine.pretraining import optimizer_step_function, peak_memory_mb
from vlpbench.engine.run_cache import Workspace
from vlpbench.strategies import losses
from vlpbench.strategies.base import Batch, Strategy, StrategyContext


def reference_name() -> str:
    """The strategy every step time is divided by: the one tagged "baseline" in its metadata."""
    baselines = STRATEGIES.tagged("baseline")
    if not baselines:
        raise VlpbenchError("bench speed: no strategy is tagged 'baseline' to measure against")
    return baselines[0]
DISTINCT_BATCHES = 4  # batches are cycled: enough to vary the data, few enough to keep in memory


@dataclass
class SpeedRow:
    """The cost of one pretraining step of one strategy."""

    strategy: str
    step_ms: float
    ratio_to_clip: float  # step time over an interleaved clip reference's
    loss_ms: float | None  # None: no call into vlpbench.strategies.losses was seen
    loss_share: float | None
    peak_memory_mb: float
    peak_is_per_strategy: bool
    gflop_per_step: float
    device: str

    @property
    def gflops(self) -> float:
        """Achieved GFLOP/s of the median step."""
        return self.gflop_per_step / (self.step_ms / 1000.0)


def speed_table(
    config: RunConfig, strategies: list[str], steps: int, warmup: int = 5, trained_requirements: bool = False
) -> Table:
    """Median step time, loss share, peak memory and GFLOP/s per strategy as a rich table."""
    return render_speed_table(measure_speed(config, strategies, steps, warmup, trained_requirements), config, steps, warmup)


def render_speed_table(rows: list[SpeedRow], config: RunConfig, steps: int, warmup: int) -> Table:
    """The rich table of `measure_speed` rows, captioned with what was measured and how."""
    per_strategy = all(row.peak_is_per_strategy for row in rows)
    memory = "CUDA max allocated" if not rows[0].device.startswith("CPU") else (
        "peak RSS" if per_strategy else "process peak RSS so far (could not reset it)"
    )
    encoders = describe_encoders(config.encoders)
    table = Table(
        title=f"pretraining step cost · profile {config.profile} · {rows[0].device}",
        caption=(
            f"image {encoders['image']} · text {encoders['text']} · batch {config.pretrain.batch_size} · "
            f"median of {steps} steps after {warmup} warm-up · × clip = over a clip model's steps interleaved "
            f"with the strategy's · peak MB = {memory} minus memory in use before the strategy was built · "
            "loss = forward + backward inside vlpbench.strategies.losses"
        ),
        title_justify="left",
    )
    for column in ("strategy", "step ms", "× clip", "loss ms", "loss %", "peak MB", "GFLOP/s"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for row in rows:
        table.add_row(
            row.strategy, f"{row.step_ms:.1f}", f"{row.ratio_to_clip:.2f}",
            "n/a" if row.loss_ms is None else f"{row.loss_ms:.2f}",
            "n/a" if row.loss_share is None else f"{100 * row.loss_share:.1f}",
            f"{row.peak_memory_mb:.0f}", f"{row.gflops:.1f}",
        )
    return table


def measure_speed(
    config: RunConfig, strategies: list[str], steps: int = 20, warmup: int = 5, trained_requirements: bool = False
) -> list[SpeedRow]:
    """One `SpeedRow` per strategy (["all"] = every registered one); see the module docstring."""
    if steps < 1 or warmup < 0:
        raise VlpbenchError(f"bench speed: --steps must be ≥ 1 and warm-up ≥ 0 (got steps={steps}, warmup={warmup})")
    names = expand(strategies, STRATEGIES.names())
    for name in names:
        STRATEGIES.entry(name)
    if not trained_requirements:
        config = dataclasses.replace(config, pretrain=dataclasses.replace(config.pretrain, mlm_steps=0))
    if config.threads:
        limit_threads(config.threads)
    workspace = Workspace(config)
    batches = _sample_batches(workspace, min(DISTINCT_BATCHES, warmup + steps))
    with seeded(config.pretrain.seed):
        reference_model = build_untrained(workspace, reference_name(), trained_requirements)
    reference = _step_function(reference_model.to(workspace.device).train(), config, workspace.device)
    for i in range(warmup):
        reference(batches[i % len(batches)])
    return [_measure(workspace, name, batches, steps, warmup, trained_requirements, reference) for name in names]


def build_untrained(workspace: Workspace, name: str, trained_requirements: bool = False) -> Strategy:
    """Strategy `name` with fresh weights, built as `Workspace.checkpoint` builds it; what it
    requires is built untrained as well, or taken from the run cache if `trained_requirements`."""

    def required(other: str) -> Strategy:
        return workspace.checkpoint(other).model if trained_requirements else build_untrained(workspace, other)

    context = StrategyContext(workspace.config, workspace.tokens()[0], workspace.build_text_encoder, required)
    return STRATEGIES.get(name)(context)


def _measure(
    workspace: Workspace, name: str, batches: list[Batch], steps: int, warmup: int, trained_requirements: bool,
    reference: Callable[[Batch], None],
) -> SpeedRow:
    device = workspace.device
    baseline = _memory_in_use_mb(device)
    with seeded(workspace.config.pretrain.seed):
        model = build_untrained(workspace, name, trained_requirements).to(device).train()
    step = _step_function(model, workspace.config, device)
    for i in range(warmup):
        step(batches[i % len(batches)])
    own, interleaved = [], []
    for i in range(steps):
        own.append(_timed(step, batches[i % len(batches)], device))
        interleaved.append(_timed(reference, batches[i % len(batches)], device))
    _memory_in_use_mb(device)  # let go of the reference's activations before the peak is tracked
    per_strategy = _reset_peak_memory(device)
    timer = _LossTimer(device)
    shares, loss_times = [], []
    with _time_losses(model, timer) as patched:
        for i in range(steps):
            timer.seconds = 0.0
            elapsed = _timed(step, batches[i % len(batches)], device)
            loss_times.append(timer.seconds)
            shares.append(timer.seconds / elapsed)
    peak = _peak_memory_mb(device) - baseline
    with FlopCounterMode(display=False) as counter:
        step(batches[0])
    step_s = statistics.median(own)
    return SpeedRow(
        strategy=name, step_ms=1000 * step_s, ratio_to_clip=step_s / statistics.median(interleaved),
        loss_ms=1000 * statistics.median(loss_times) if patched else None,
        loss_share=statistics.median(shares) if patched else None,
        peak_memory_mb=peak, peak_is_per_strategy=per_strategy,
        gflop_per_step=counter.get_total_flops() / 1e9, device=_device_name(device),
    )


def _timed(step: Callable[[Batch], None], batch: Batch, device: torch.device) -> float:
    start = _clock(device)
    step(batch)
    return _clock(device) - start


def _step_function(model: Strategy, config: RunConfig, device: torch.device) -> Callable[[Batch], None]:
    """One optimizer step exactly as in `pretrain` (shared `optimizer_step_function`)."""
    step_once = optimizer_step_function(model, "speed", config.pretrain, device)
    return lambda batch: step_once(batch, 0)


def _sample_batches(workspace: Workspace, count: int) -> list[Batch]:
    """`count` training batches of the corpus, built as `pretrain` builds them."""
    config = workspace.config
    corpus = workspace.corpus()
    _, token_ids, attention_mask = workspace.tokens()
    train = corpus.train_indices
    size = config.pretrain.batch_size
    if size > len(train):
        raise VlpbenchError(f"pretrain.batch_size {size} is larger than the {len(train)}-pair training split")
    rng, augmentation = seed_generator(config.pretrain.seed, "speed-batches")
    labels = torch.from_numpy(np.asarray(corpus.labels, dtype=np.float32))
    batches = []
    for _ in range(count):
        index = train[rng.choice(len(train), size, replace=False)]
        images = augment(load_batch(corpus.images, index, config.encoders.image.img_size), augmentation)
        batches.append(Batch(images, token_ids[index], attention_mask[index], labels[index]).to(workspace.device))
    return batches


# -- loss timing -----------------------------------------------------------------------------
class _LossTimer:
    """Seconds spent in loss forward and backward since the last reset."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.seconds = 0.0

    def now(self) -> float:
        return _clock(self.device)


class _TimedLoss(torch.autograd.Function):
    """Run one loss call on detached copies of its tensor inputs, timing its forward here and
    its backward in `backward`; gradients flow back to the original inputs unchanged."""

    @staticmethod
    def forward(ctx: Any, timer: _LossTimer, call: Callable[..., torch.Tensor], *tensors: torch.Tensor) -> torch.Tensor:
        leaves = [t.detach().requires_grad_(t.requires_grad) for t in tensors]
        start = timer.now()
        with torch.enable_grad():
            out = call(*leaves)
        timer.seconds += timer.now() - start
        ctx.timer, ctx.out, ctx.leaves = timer, out, leaves
        return out.detach()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        wanted = [leaf for leaf in ctx.leaves if leaf.requires_grad]
        if not ctx.out.requires_grad:
            return (None, None, *[None] * len(ctx.leaves))
        start = ctx.timer.now()
        grads = iter(torch.autograd.grad(ctx.out, wanted, grad, allow_unused=True))
        ctx.timer.seconds += ctx.timer.now() - start
        return (None, None, *(next(grads) if leaf.requires_grad else None for leaf in ctx.leaves))


def _timed_loss(function: Callable[..., torch.Tensor], timer: _LossTimer) -> Callable[..., torch.Tensor]:
    """`function` with its forward and backward time added to `timer`."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> torch.Tensor:
        slots: list[int | str] = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor)]
        slots += [k for k, v in kwargs.items() if isinstance(v, torch.Tensor)]
        tensors = [args[s] if isinstance(s, int) else kwargs[s] for s in slots]

        def call(*values: torch.Tensor) -> torch.Tensor:
            positional, keywords = list(args), dict(kwargs)
            for slot, value in zip(slots, values):
                if isinstance(slot, int):
                    positional[slot] = value
                else:
                    keywords[slot] = value
            return function(*positional, **keywords)

        if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
            return _TimedLoss.apply(timer, call, *tensors)
        start = timer.now()
        out = call(*tensors)
        timer.seconds += timer.now() - start
        return out

    return wrapper


@contextmanager
def _time_losses(model: Strategy, timer: _LossTimer) -> Iterator[int]:
    """Within the block, the loss functions the model's strategy modules imported from
    `vlpbench.strategies.losses` are timed; yields how many names were patched."""

    loss_functions = {id(getattr(losses, name)) for name in losses.__all__}
    modules = {sys.modules[cls.__module__] for cls in type(model).__mro__ if cls.__module__ in sys.modules}
    with ExitStack() as stack:
        patched = 0
        for module in modules:
            for name, value in list(vars(module).items()):
                if id(value) in loss_functions:
                    stack.enter_context(mock.patch.object(module, name, _timed_loss(value, timer)))
                    patched += 1
        yield patched


# -- clocks and memory -----------------------------------------------------------------------
def _clock(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def _memory_in_use_mb(device: torch.device) -> float:
    """Memory in use now, after freeing what can be freed: CUDA allocated, or the CPU resident set
    once garbage is collected and glibc has returned free heap pages (`malloc_trim`)."""
    gc.collect()
    if device.type == "cuda":
        return torch.cuda.memory_allocated(device) / 2**20
    libc = ctypes.CDLL(None)
    if hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
    return _proc_status_mb("VmRSS")


def _reset_peak_memory(device: torch.device) -> bool:
    """Reset the peak-memory counter; False where the CPU high-water mark cannot be reset."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return True
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_memory_mb(device: torch.device) -> float:
    """CUDA max allocated, or the resident-set high-water mark (VmHWM) of this process."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return _proc_status_mb("VmHWM")


def _proc_status_mb(field: str) -> float:
    """A memory field of /proc/self/status in MB; the process' peak RSS where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_memory_mb(torch.device("cpu"))


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU, {torch.get_num_threads()} threads"
