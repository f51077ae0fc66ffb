"""`bench speed`: what one pretraining optimizer step costs, per strategy.

Each strategy is built *untrained*, exactly as the run cache builds it (a `StrategyContext`
with the shared tokenizer and text-encoder factory), and runs `warmup` + `steps` optimizer
steps on corpus batches made as `pretrain` makes them (augmented images, tokenised reports,
converter labels). A step is one iteration of `pretrain`: `training_step` (forward + loss),
backward, gradient clipping, AdamW, LR schedule and `after_step` (momentum update, enqueue).
Batches are built before timing, so data loading (the same for every strategy) is excluded.

Measured per strategy:
- **step ms** — median of `steps` step times taken by `torch.utils.benchmark.Timer` (which
  synchronises CUDA); every timed step directly follows an untimed step of the same model (the
  Timer's block-size probe), so alternating with the reference below leaves no cold caches;
- **× clip** — that median over the median of the reference model's steps (the strategy tagged
  "baseline", `clip`), timed alternately with this strategy's on the same batches, so a shared
  machine's changing load cancels out (the `clip` row thus shows the measurement noise, ≈ 1.00);
- **loss ms / loss %** — time inside the strategy's loss functions (those exported by
  `vlpbench.strategies.losses`, forward *and* backward) over a few steps run under
  `torch.profiler`: each loss runs in a `loss/<name>` range (`losses.profiled`); its forward is
  the outermost such range (a loss calling another one is counted once) and its backward the
  autograd nodes created inside that range (matched by their forward sequence numbers). On the
  CPU times are wall intervals, on CUDA the kernel time of those ranges. The share is the median
  over the profiled steps of loss time / step time (both under the profiler). "n/a" when no
  `loss/` range was seen. Encoders, momentum encoders and decoders are not loss.
- **peak MB** — memory this strategy adds at its peak (model, optimizer state, activations,
  queues, teacher): CUDA max allocated, or on the CPU the resident-set high-water mark (VmHWM,
  reset via Linux `/proc/self/clear_refs`), tracked over one unprofiled step per distinct batch
  (the strategy's own steps only), minus what was in use just before the strategy was built.
  Where the CPU mark cannot be reset it is the process' peak so far (flagged in the caption).
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
import gc
import itertools
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from rich.table import Table
from torch.autograd.profiler_util import FunctionEvent
from torch.profiler import ProfilerActivity, profile, record_function
from torch.utils import benchmark
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
from vlpbench.strategies.base import Batch, Strategy, StrategyContext


def reference_name() -> str:
    """The strategy every step time is divided by: the one tagged "baseline" in its metadata."""
    baselines = STRATEGIES.tagged("baseline")
    if not baselines:
        raise VlpbenchError("bench speed: no strategy is tagged 'baseline' to measure against")
    return baselines[0]


DISTINCT_BATCHES = 4  # batches are cycled: enough to vary the data, few enough to keep in memory
LOSS_RANGE = "loss/"  # prefix of the profiler ranges `losses.profiled` opens
STEP_RANGE = "bench-speed/step"
BACKWARD_NODE = "autograd::engine::evaluate_function: "  # the profiler's name for one autograd node run


@dataclass
class SpeedRow:
    """The cost of one pretraining step of one strategy."""

    strategy: str
    step_ms: float
    ratio_to_clip: float  # step time over an interleaved clip reference's
    loss_ms: float | None  # None: no `loss/` profiler range (vlpbench.strategies.losses) was seen
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
    untrained = [name for name in names if not getattr(STRATEGIES.get(name), "pretrains", True)]
    if untrained and strategies != ["all"]:
        raise VlpbenchError(f"bench speed: {', '.join(untrained)} never train (reference rows): no step to time")
    names = [name for name in names if name not in untrained]  # `all`: the strategies that have a training step
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
    own, interleaved = _step_timer(step, batches, name), _step_timer(reference, batches, reference_name())
    own_times, reference_times = [], []
    for _ in range(steps):
        own_times.append(_time_one_step(own))
        reference_times.append(_time_one_step(interleaved))
    step_s = benchmark.Measurement.merge(own_times)[0].median
    reference_s = benchmark.Measurement.merge(reference_times)[0].median
    _memory_in_use_mb(device)  # let go of the reference's activations before the peak is tracked
    per_strategy = _reset_peak_memory(device)
    for batch in batches[:steps]:
        step(batch)
    peak = _peak_memory_mb(device) - baseline
    loss = profile_losses(step, batches[:steps], device)
    with FlopCounterMode(display=False) as counter:
        step(batches[0])
    return SpeedRow(
        strategy=name, step_ms=1000 * step_s, ratio_to_clip=step_s / reference_s,
        loss_ms=1000 * statistics.median(loss.loss_s) if loss.names else None,
        loss_share=statistics.median(loss.shares) if loss.names else None,
        peak_memory_mb=peak, peak_is_per_strategy=per_strategy,
        gflop_per_step=counter.get_total_flops() / 1e9, device=_device_name(device),
    )


def _step_timer(step: Callable[[Batch], None], batches: list[Batch], name: str) -> benchmark.Timer:
    """A Timer of one step on the next of `batches` (cycled), at the current thread count
    (`Timer` would otherwise time on one thread)."""
    return benchmark.Timer(
        stmt="step(next(batches))", globals={"step": step, "batches": itertools.cycle(batches)},
        num_threads=torch.get_num_threads(), label="bench speed", description=name,
    )


def _time_one_step(timer: benchmark.Timer) -> benchmark.Measurement:
    """One timed step: with no minimum run time, `blocked_autorange` runs one untimed step to
    size its block (one step, as a step takes far longer than the timer's overhead), then times
    one block."""
    return timer.blocked_autorange(min_run_time=0.0)


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


# -- loss timing ----------------------------------------------------------------------------
@dataclass
class LossProfile:
    """Loss and step seconds of each profiled step, and the `loss/` ranges seen."""

    loss_s: list[float] = field(default_factory=list)
    step_s: list[float] = field(default_factory=list)
    names: set[str] = field(default_factory=set)

    @property
    def shares(self) -> list[float]:
        return [loss / step for loss, step in zip(self.loss_s, self.step_s)]


def profile_losses(step: Callable[[Batch], object], batches: list[Batch], device: torch.device) -> LossProfile:
    """Run `step` once per batch under `torch.profiler` and split each step's time into the
    part spent in `loss/` ranges (forward and backward, see the module docstring) and the rest."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        for batch in batches:
            with record_function(STEP_RANGE):
                step(batch)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
    events = prof.events()
    in_loss = _loss_events(events)
    result = LossProfile(names={e.name for e in events if e.name.startswith(LOSS_RANGE)})
    for step_event in (e for e in events if e.name == STEP_RANGE):
        span = step_event.time_range
        inside = [e for e in in_loss if span.start <= e.time_range.start < span.end]
        if device.type == "cuda":
            loss_us = sum(e.device_time_total for e in inside)
        else:
            loss_us = sum(e.time_range.elapsed_us() for e in inside)
        result.loss_s.append(loss_us / 1e6)
        result.step_s.append(span.elapsed_us() / 1e6)
    return result


def _loss_events(events: list[FunctionEvent]) -> list[FunctionEvent]:
    """The profiler events that are loss computation, none inside another: the outermost `loss/`
    ranges (the forward) and the autograd nodes created inside them (the backward)."""
    forward = [e for e in events if e.name.startswith(LOSS_RANGE) and not _has_ancestor(e, lambda a: a.name.startswith(LOSS_RANGE))]
    created: list[tuple[int, int, int]] = []  # (thread, first, last) sequence numbers of nodes made in a loss
    for event in forward:
        numbers = [d.sequence_nr for d in _descendants(event) if d.sequence_nr >= 0]
        if numbers:
            created.append((event.thread, min(numbers), max(numbers)))
    chosen = {id(e) for e in forward}
    for event in events:
        if event.name.startswith(BACKWARD_NODE) and any(
            event.fwd_thread == thread and first <= event.sequence_nr <= last for thread, first, last in created
        ):
            chosen.add(id(event))
    return [e for e in events if id(e) in chosen and not _has_ancestor(e, lambda a: id(a) in chosen)]


def _has_ancestor(event: FunctionEvent, test: Callable[[FunctionEvent], bool]) -> bool:
    parent = event.cpu_parent
    while parent is not None:
        if test(parent):
            return True
        parent = parent.cpu_parent
    return False


def _descendants(event: FunctionEvent) -> list[FunctionEvent]:
    found, stack = [], list(event.cpu_children)
    while stack:
        child = stack.pop()
        found.append(child)
        stack.extend(child.cpu_children)
    return found


# -- clocks and memory -----------------------------------------------------------------------
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
