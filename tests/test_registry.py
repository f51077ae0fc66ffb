"""Registries: discovery, duplicates, 'did you mean', entry points, `bench list`."""

from __future__ import annotations

import sys
import textwrap
from importlib.metadata import EntryPoint

import pytest

from vlpbench.app.cli import main
from vlpbench.core import registry as registry_module
from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import DATASETS, STRATEGIES, TASKS, Registry


def test_builtin_plugins_are_discovered():
    assert {"clip", "wsc", "wsc-sa", "clip-be"} <= set(STRATEGIES.names())
    assert "ood-zsc" in TASKS.names()
    assert "syn-rfmid" in DATASETS.names()


def test_unknown_name_suggests_close_matches():
    with pytest.raises(VlpbenchError, match=r"unknown strategy 'wcs' — did you mean 'wsc'.*available: "):
        STRATEGIES.get("wcs")


def test_duplicate_name_names_both_places():
    registry = Registry("strategy", "vlpbench.strategies", "vlpbench.strategies.none")

    @registry.register("twin")
    class First:  # noqa: D401 - a test double
        """first"""

    with pytest.raises(VlpbenchError, match=r"duplicate strategy name 'twin': registered by .*First and by .*Second"):

        @registry.register("twin")
        class Second:
            """second"""


def test_entry_point_plugins_register(tmp_path, monkeypatch):
    package = tmp_path / "outside_plugin.py"
    package.write_text(textwrap.dedent('''
        from vlpbench.core.registry import register_task
        from vlpbench.tasks.base import Task

        @register_task("outside-task", description="registered through an entry point")
        class OutsideTask(Task):
            pass
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry("task", "vlpbench.tasks", "vlpbench.tasks")
    monkeypatch.setattr(registry_module, "TASKS", registry)
    point = EntryPoint(name="outside", value="outside_plugin", group="vlpbench.tasks")
    monkeypatch.setattr(registry_module, "entry_points", lambda group: [point] if group == "vlpbench.tasks" else [])
    sys.modules.pop("outside_plugin", None)
    assert "outside-task" in registry.names()
    assert registry.entry("outside-task").description == "registered through an entry point"


def test_bench_list_prints_names_and_descriptions(capsys):
    assert main(["list", "strategies"]) == 0
    out = capsys.readouterr().out
    assert "wsc" in out and "Weighted Similarity" in out and "clip-mismatch-50" in out


def test_bench_run_unknown_strategy_is_one_line_exit_2(capsys):
    assert main(["run", "--strategy", "wcs", "--task", "ood-zsc", "--profile", "smoke"]) == 2
    err = capsys.readouterr().err.strip()
    assert "did you mean 'wsc'" in err and len(err.splitlines()) == 1
