"""`bench new strategy NAME`: write a working plugin file and its test from templates."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

from vlpbench.core.errors import VlpbenchError
from vlpbench.core.registry import STRATEGIES

_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


def new_strategy(name: str, plugin_dir: Path | None, tests_dir: Path) -> tuple[Path, Path]:
    if not _NAME.match(name):
        raise VlpbenchError(f"strategy name '{name}': expected lowercase letters, digits and '-' (e.g. my-clip)")
    if name in STRATEGIES.names():
        raise VlpbenchError(f"strategy '{name}' already exists ({STRATEGIES.entry(name).origin})")
    module = name.replace("-", "_")
    plugin_dir = plugin_dir or Path(str(files("vlpbench.strategies")))
    plugin, test = plugin_dir / f"{module}.py", tests_dir / f"test_strategy_{module}.py"
    for path in (plugin, test):
        if path.exists():
            raise VlpbenchError(f"{path} already exists; choose another name")
    values = {"name": name, "module": module, "title": name.replace("-", " ").title(),
              "class_name": "".join(part.title() for part in module.split("_"))}
    templates = files("vlpbench.app") / "templates"
    for folder in (plugin_dir, tests_dir):
        folder.mkdir(parents=True, exist_ok=True)
    plugin.write_text(templates.joinpath("strategy.py.tmpl").read_text(encoding="utf-8").format(**values), encoding="utf-8")
    test.write_text(templates.joinpath("test_strategy.py.tmpl").read_text(encoding="utf-8").format(**values), encoding="utf-8")
    return plugin, test
