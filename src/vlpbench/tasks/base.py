"""The task interface: a task evaluates one pretrained strategy on one dataset for one seed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from vlpbench.core.config import RunConfig
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.fingerprint import DigestIndex
from vlpbench.datasets.base import Dataset
from vlpbench.strategies.base import Strategy


@dataclass
class TaskContext:
    """Where a task may cache work shared by seeds (e.g. extracted features), and the device."""

    cache_dir: Path
    checkpoint_hash: str
    device: str = "cpu"
    #: file digests of the run folder, keying caches by the content of image files (None: in memory only)
    digests: DigestIndex | None = None


@dataclass
class TaskResult:
    """Metrics in percent, plus optional bootstrap CIs/replicates and warnings for the record."""

    metrics: dict[str, float]
    warnings: list[str] = field(default_factory=list)
    ci: dict[str, list[float]] = field(default_factory=dict)
    bootstrap: dict[str, list[float]] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)  # task-specific details kept in the record (e.g. per-protocol metrics)


class Task:
    """An evaluation protocol. Subclasses declare which dataset kinds they accept."""

    accepts: ClassVar[tuple[str, ...]] = ("classification",)
    #: set by `register_task`; names this task's config section `task.<name>`
    registered_name: ClassVar[str] = ""
    #: deterministic tasks run once (seed 0) whatever `eval.seeds` says
    deterministic: ClassVar[bool] = False
    #: tasks that need the text tower report "n/a" for image-only strategies
    needs_text_tower: ClassVar[bool] = False
    #: tasks that read a network (gradients, a latent space) report "n/a" for a hand-crafted reference row
    needs_network: ClassVar[bool] = False
    #: tasks that honour `eval.fractions` (training-set fractions)
    uses_fractions: ClassVar[bool] = False

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        #: this task's `Options` (its config section), or None if it declares none
        self.options = config.task.get(self.registered_name)

    @classmethod
    def image_size(cls, config: RunConfig) -> int:
        """The side its evaluation sets are loaded at (`eval.image_size` unless a task says otherwise)."""
        return config.eval.image_size

    @classmethod
    def not_applicable(cls, strategy: Strategy | type[Strategy]) -> str | None:
        """Why this task has no result for `strategy` (its record is "n/a"), or None if it applies."""
        if cls.needs_text_tower and not strategy.has_text_tower:
            return "has no text tower"
        if cls.needs_network and strategy.hand_crafted:
            return "has no network (hand-crafted features)"
        return None

    def check_dataset(self, dataset: Dataset) -> None:
        if dataset.kind not in self.accepts:
            raise VlpbenchError(
                f"task '{type(self).__name__}' cannot run on dataset '{dataset.name}': it is a "
                f"{dataset.kind} set, expected {' or '.join(self.accepts)}"
            )

    def evaluate(
        self, model: Strategy, dataset: Dataset, seed: int, fraction: float, context: TaskContext
    ) -> TaskResult:
        raise NotImplementedError
