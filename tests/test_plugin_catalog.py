"""Plugin catalog: the registries' metadata read back without importing the plugins, keyed by the
sources, so `bench leaderboard` imports no deep-learning library and builds the same files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from test_leaderboard import SEEDS, write_lp_grid, write_record, zsc_records
from vlpbench.app.cli import COMMAND_MODULES, build_parser
from vlpbench.core import plugin_catalog
from vlpbench.core.registry import DATASETS, MODELS, STRATEGIES, TASKS, PluginInfo, Registry
from vlpbench.report.leaderboard import build_leaderboards

REGISTRIES = {registry.kind: registry for registry in (STRATEGIES, TASKS, DATASETS, MODELS)}
HEAVY = ("torch", "torchvision", "timm", "transformers", "sklearn", "mmseg", "pytorch_grad_cam")


def _python(code: str, cache: Path) -> str:
    """Run `code` in a fresh interpreter with the plugin cache in `cache`; its stdout."""
    env = {**os.environ, "VLPBENCH_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory) -> Path:
    """A cache written by a process that discovered every registry, after registering one plugin
    by hand (a script's own plugin is not the package's: it must stay out of the catalog)."""
    cache = tmp_path_factory.mktemp("plugin-cache")
    _python("""
        from vlpbench.core.registry import DATASETS, MODELS, STRATEGIES, TASKS, register_strategy

        @register_strategy("hand-made-in-main")
        class HandMade:
            '''registered by a script'''

        for registry in (STRATEGIES, TASKS, DATASETS, MODELS):
            registry.names()
    """, cache)
    return cache


@pytest.mark.parametrize("kind", sorted(REGISTRIES))
def test_catalog_equals_the_discovered_metadata(kind, warm_cache, monkeypatch):
    registry = REGISTRIES[kind]
    monkeypatch.setenv("VLPBENCH_CACHE_DIR", str(warm_cache))
    catalogued = plugin_catalog.load_infos(kind, registry.group, PluginInfo)
    live = {e.name: e.info for e in registry.entries() if e.module.startswith("vlpbench.")}
    assert catalogued == live and list(catalogued) == sorted(live)
    assert all(type(getattr(catalogued[n], f)) is type(getattr(live[n], f)) for n in live for f in ("tags", "profiles"))
    assert "hand-made-in-main" not in catalogued


@pytest.mark.parametrize("cache", ["warm", "cold"])
def test_leaderboard_imports_no_deep_learning_library_and_writes_the_same_files(cache, warm_cache, tmp_path):
    """Warm: the catalog is read. Cold (empty cache): a child process imports the plugins and writes
    the catalog while the build reads the records; the build's own process still imports none."""
    for registry in REGISTRIES.values():
        registry.discover()  # the in-process build reads the discovered plugins, the other process the catalog
    results = tmp_path / "results"
    write_lp_grid(results)
    zsc_records(results, strategies=("wsc", "clip-be", "wsc-sa", "clip"), with_mae=False)
    for seed in SEEDS:  # a descriptive table: its legend comes from the task's metric notes
        write_record(results, "clip", "geometry", "corpus", seed, {"erank": 5.0 + seed, "alignment": 1.0})
    in_process = build_leaderboards(results, tmp_path / "live", html=tmp_path / "live-site")
    folder = warm_cache if cache == "warm" else tmp_path / "empty-cache"
    loaded = _python(f"""
        import sys
        from vlpbench.app.cli import main
        code = main(["leaderboard", "--results", {str(results)!r}, "--out", {str(tmp_path / 'cat')!r},
                     "--html", {str(tmp_path / 'cat-site')!r}])
        print(code, sorted(m for m in {HEAVY!r} if m in sys.modules))
    """, folder)
    assert loaded.splitlines()[-1] == "0 []"
    if cache == "cold":
        assert sorted(p.name.split("-")[0] for p in (folder / "plugin-catalog").iterdir()) == ["strategy", "task"]
    for path in in_process:
        for live, other in (("live", "cat"), ("live-site", "cat-site")):
            if path.is_relative_to(tmp_path / live):
                assert (tmp_path / other / path.relative_to(tmp_path / live)).read_bytes() == path.read_bytes(), path
    assert "effective rank of the image backbone features" in (tmp_path / "cat" / "geometry.md").read_text()


def test_a_failed_prefetch_falls_back_to_importing_the_plugins(tmp_path):
    out = _python("""
        import sys
        from vlpbench.core.registry import STRATEGIES, prefetch_infos
        sys.executable = "/bin/false"  # the child exits at once and writes nothing
        prefetch_infos(STRATEGIES)
        print("wsc" in STRATEGIES.infos(), "torch" in sys.modules)
    """, tmp_path)
    assert out.splitlines()[-1] == "True True"


def test_a_stale_or_damaged_catalog_is_not_read(tmp_path, monkeypatch):
    """Editing, adding or removing a source file, or another entry point, changes the key."""
    package = tmp_path / "src" / "vlpbench"
    package.mkdir(parents=True)
    (package / "plugin.py").write_text("TITLE = 'one'\n")
    monkeypatch.setattr(plugin_catalog, "PACKAGE_ROOT", package)
    monkeypatch.setenv("VLPBENCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(plugin_catalog, "entry_points", lambda group: [])
    infos = {"one": PluginInfo(title="One", tags=("a", "b"), profiles={"quick": {"steps": 3, "size": (2, 2)}})}
    plugin_catalog.save_infos("strategy", [], infos, PluginInfo)
    assert plugin_catalog.load_infos("strategy", "g", PluginInfo) == infos
    (package / "plugin.py").write_text("TITLE = 'second'\n")
    assert plugin_catalog.load_infos("strategy", "g", PluginInfo) is None
    (package / "plugin.py").write_text("TITLE = 'one'\n")
    assert plugin_catalog.load_infos("strategy", "g", PluginInfo) == infos
    (package / "added.py").write_text("")
    assert plugin_catalog.load_infos("strategy", "g", PluginInfo) is None
    (package / "added.py").unlink()
    outside = tmp_path / "outside_plugins.py"
    outside.write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    point = EntryPoint(name="outside", value="outside_plugins", group="g")
    monkeypatch.setattr(plugin_catalog, "entry_points", lambda group: [point])
    assert plugin_catalog.load_infos("strategy", "g", PluginInfo) is None
    plugin_catalog.save_infos("strategy", [point], infos, PluginInfo)
    assert plugin_catalog.load_infos("strategy", "g", PluginInfo) == infos
    outside.write_text("# edited\n")
    assert plugin_catalog.load_infos("strategy", "g", PluginInfo) is None
    plugin_catalog.catalog_path("strategy").write_text("{not json")
    assert plugin_catalog.load_infos("strategy", "g", PluginInfo) is None
    plugin_catalog.catalog_path("strategy").write_text(json.dumps({"key": "x", "infos": []}))
    assert plugin_catalog.load_infos("strategy", "g", PluginInfo) is None


def _no_home() -> Path:
    raise RuntimeError("Could not determine home directory.")


def test_an_unwritable_cache_or_an_unencodable_info_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(plugin_catalog, "entry_points", lambda group: [])
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("VLPBENCH_CACHE_DIR", str(tmp_path / "file"))  # a file where the folder should be
    plugin_catalog.save_infos("strategy", [], {"a": PluginInfo()}, PluginInfo)
    monkeypatch.setenv("VLPBENCH_CACHE_DIR", str(tmp_path / "cache"))
    plugin_catalog.save_infos("strategy", [], {"a": PluginInfo(profiles={"quick": {"kind": object()}})}, PluginInfo)
    assert not (tmp_path / "cache").exists()
    monkeypatch.delenv("VLPBENCH_CACHE_DIR")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("HOME")
    monkeypatch.setattr(plugin_catalog.Path, "home", staticmethod(_no_home))
    plugin_catalog.save_infos("strategy", [], {"a": PluginInfo()}, PluginInfo)  # no home folder: nothing to write
    assert plugin_catalog.load_infos("strategy", "g", PluginInfo) is None


def test_a_registry_with_plugins_loaded_uses_them_not_the_catalog(tmp_path, monkeypatch):
    monkeypatch.setenv("VLPBENCH_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr("vlpbench.core.registry.load_infos", lambda *a: {"from-catalog": PluginInfo()})
    registry = Registry("strategy", "vlpbench.strategies", "vlpbench.none")
    assert list(registry.infos()) == ["from-catalog"]

    @registry.register("registered-here", info=PluginInfo(order=3, tags=("x",)))
    class Here:
        """here"""

    assert list(registry.infos()) == ["registered-here"] and registry.tagged("x") == ["registered-here"]


def test_every_subcommand_has_its_module():
    subcommands = next(a for a in build_parser()._actions if a.dest == "command").choices
    assert set(COMMAND_MODULES) == set(subcommands)
    for module in COMMAND_MODULES.values():
        assert callable(__import__(f"vlpbench.app.commands.{module}", fromlist=["main"]).main)
