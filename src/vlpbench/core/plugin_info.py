"""`PluginInfo`, the metadata a plugin declares next to its code.

Its own module so that the registry (which attaches it to each entry) and the plugin catalog
(which writes it to disk and reads it back) both import it and neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PluginInfo:
    """Frozen metadata a plugin declares next to its code; leaderboards, the scheduler, the CLI
    and the docs read it from the registry, so no engine file names a plugin.

    `tags` carry roles such as "baseline" (the default comparison row), "contrastive" (used by
    the label-entropy study), "zero-shot", or ablation rows: "ablation:<family>" puts a strategy in
    the ablation table of `family` (a strategy name) and "ablation:<family>:<component>" checks a
    component in its row. The family's own plugin gives the table's `ablation_title` and the
    `ablation_tasks` it reports. `profiles` maps a profile name to overrides of the plugin's
    `Options` for that profile."""

    title: str = ""
    order: int = 100
    reference: str = ""
    bibtex: str = ""
    default_datasets: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    cost: float = 1.0
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    ablation_title: str = ""
    ablation_tasks: tuple[str, ...] = ()
    #: tasks: what each metric means and which way is better (the legend of a descriptive table)
    metric_notes: dict[str, str] = field(default_factory=dict)
    #: external models: where the weights are published and under which licence
    source: str = ""
    licence: str = ""
