"""Deprecated alias of `vlpbench.core.registry` (removed in the next release)."""

import warnings

from vlpbench.core.registry import (  # noqa: F401  (re-exported for old plugins)
    DATASETS,
    STRATEGIES,
    TASKS,
    register_dataset,
    register_strategy,
    register_task,
)

warnings.warn(
    "vlpbench.benchmark.registry is deprecated; import from vlpbench (register_strategy, register_task, "
    "register_dataset) or vlpbench.core.registry", DeprecationWarning, stacklevel=2,
)
