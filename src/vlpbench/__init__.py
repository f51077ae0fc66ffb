"""vlpbench: a benchmark suite for medical vision(-language) pretraining strategies.

The public face. Plugins register with `register_strategy`, `register_task`,
`register_dataset` and `register_model`; `resolve_config` builds a run configuration, `run_grid` pretrains and
evaluates, `build_leaderboards` renders the tables from result records. Names are loaded on
first use (PEP 562), so `import vlpbench` stays light and the layers below never import this file.
"""

from __future__ import annotations

import importlib
from typing import Any

from vlpbench._version import __version__

_EXPORTS = {
    "register_strategy": "vlpbench.core.registry",
    "register_task": "vlpbench.core.registry",
    "register_dataset": "vlpbench.core.registry",
    "register_model": "vlpbench.core.registry",
    "MODELS": "vlpbench.core.registry",
    "STRATEGIES": "vlpbench.core.registry",
    "TASKS": "vlpbench.core.registry",
    "DATASETS": "vlpbench.core.registry",
    "PluginInfo": "vlpbench.core.plugin_info",
    "resolve_config": "vlpbench.core.config",
    "RunConfig": "vlpbench.core.config",
    "run_grid": "vlpbench.engine.grid",
    "build_leaderboards": "vlpbench.report.leaderboard",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'vlpbench' has no attribute '{name}'")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
