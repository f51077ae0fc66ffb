"""Plugin registries for strategies, tasks, datasets and external (released) models.

A plugin registers with one decorator and an explicit name. Modules inside the
`vlpbench.strategies`, `vlpbench.tasks`, `vlpbench.datasets` and `vlpbench.models` packages are
imported automatically; other packages register through the entry-point groups of the same names.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys
from dataclasses import dataclass, field, is_dataclass
from importlib.metadata import entry_points
from typing import Any, Callable, TypeVar

from vlpbench.core.errors import VlpbenchError, did_you_mean
from vlpbench.core.plugin_catalog import load_infos, save_infos
from vlpbench.core.plugin_info import PluginInfo

T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    """One registered plugin: its object, one-line description, metadata, options class and origin."""

    name: str
    obj: Any
    description: str
    reference: str
    origin: str
    info: PluginInfo = field(default_factory=PluginInfo)
    options: type | None = None
    #: the module that registered it
    module: str = ""

    def default_options(self, profile: str) -> Any:
        """The plugin's `Options` with its paper defaults and the profile's overrides."""
        if self.options is None:
            return None
        return self.options(**self.info.profiles.get(profile, {}))


class Registry:
    """Name → plugin mapping with auto-discovery, duplicate detection and 'did you mean'."""

    def __init__(self, kind: str, package: str, group: str) -> None:
        self.kind = kind
        self.package = package
        self.group = group
        self._entries: dict[str, Entry] = {}
        self._discovered = False
        self._catalogued: dict[str, PluginInfo] | None = None
        #: a child process discovering this registry for the catalog (`prefetch_infos`)
        self._prefetch: subprocess.Popen | None = None

    def register(
        self, name: str, description: str = "", reference: str = "", info: PluginInfo | None = None,
        options: type | None = None,
    ) -> Callable[[T], T]:
        """Decorator: register `obj` under `name`; a second plugin with that name is an error.

        `options` (default: the object's `Options` attribute) is a dataclass of the plugin's own
        settings with paper defaults; it becomes the config section `<kind>.<name>`. A class
        gets `registered_name` so it can find its section."""

        def decorator(obj: T) -> T:
            module = getattr(obj, "__module__", "?")
            origin = f"{module}.{getattr(obj, '__qualname__', obj)}"
            if name in self._entries and self._entries[name].origin != origin:
                raise VlpbenchError(
                    f"duplicate {self.kind} name '{name}': registered by "
                    f"{self._entries[name].origin} and by {origin}"
                )
            doc = description or (inspect.getdoc(obj) or "").split("\n")[0]
            meta = info or PluginInfo(reference=reference)
            option_class = options if options is not None else getattr(obj, "Options", None)
            if option_class is not None and not is_dataclass(option_class):
                raise VlpbenchError(f"{self.kind} '{name}': Options must be a dataclass, got {option_class!r}")
            self._entries[name] = Entry(name, obj, doc, reference or meta.reference, origin, meta, option_class, module)
            if inspect.isclass(obj):
                obj.registered_name = name
            return obj

        return decorator

    def discover(self) -> None:
        """Import every module of the built-in package, then every entry point of the group, and
        catalog what they registered (`plugin_catalog`)."""
        if self._discovered:
            return
        self._discovered = True
        package = importlib.import_module(self.package)
        for module in pkgutil.walk_packages(package.__path__, prefix=f"{self.package}."):
            if not module.name.rsplit(".", 1)[-1].startswith("_"):
                importlib.import_module(module.name)
        plugin_entry_points = list(entry_points(group=self.group))
        for entry_point in plugin_entry_points:
            entry_point.load()
        sources = [self.package, *(entry_point.module for entry_point in plugin_entry_points)]
        found = {name: e.info for name, e in sorted(self._entries.items()) if _within(e.module, sources)}
        save_infos(self.kind, plugin_entry_points, found, PluginInfo)

    def names(self) -> list[str]:
        self.discover()
        return sorted(self._entries)

    def entries(self) -> list[Entry]:
        self.discover()
        return [self._entries[name] for name in sorted(self._entries)]

    def entry(self, name: str) -> Entry:
        """The entry for `name`, or an error with close matches and the full list."""
        self.discover()
        if name not in self._entries:
            hint = did_you_mean(name, self._entries)
            raise VlpbenchError(
                f"unknown {self.kind} '{name}'{hint} (available: {', '.join(sorted(self._entries))})"
            )
        return self._entries[name]

    def get(self, name: str) -> Any:
        return self.entry(name).obj

    def infos(self) -> dict[str, PluginInfo]:
        """Every plugin's metadata by name, in name order. A process that has not loaded a plugin
        of this kind reads it from the plugin catalog while that matches the installed sources
        (importing no plugin); otherwise the plugins are discovered."""
        if not self._entries:
            if self._prefetch is not None:
                self._prefetch.wait()
                self._prefetch = None
            if self._catalogued is None:
                self._catalogued = load_infos(self.kind, self.group, PluginInfo)
            if self._catalogued is not None:
                return self._catalogued
        self.discover()
        return {name: self._entries[name].info for name in sorted(self._entries)}

    def info(self, name: str) -> PluginInfo:
        """The metadata of `name` (`infos`), or an error with close matches and the full list."""
        infos = self.infos()
        if name not in infos:
            self.entry(name)  # raises the "unknown … did you mean" error
        return infos[name]

    def display_order(self) -> list[str]:
        """Names in display order (metadata `order`, then name), from `infos`."""
        infos = self.infos()
        return sorted(infos, key=lambda name: (infos[name].order, name))

    def ordered(self) -> list[Entry]:
        """Entries in display order (metadata `order`, then name)."""
        return sorted(self.entries(), key=lambda entry: (entry.info.order, entry.name))

    def tagged(self, tag: str) -> list[str]:
        """Names whose metadata carries `tag`, in display order."""
        infos = self.infos()
        return [name for name in self.display_order() if tag in infos[name].tags]


def prefetch_infos(*registries: Registry) -> None:
    """Start one child process that discovers those of the global `registries` whose catalog is
    stale (and so writes it), while this process does other work; their `infos()` wait for it and
    read the catalog instead of importing every plugin here. Nothing starts when all are loaded or
    catalogued; should the child fail, `infos()` discovers the plugins in this process."""
    stale = []
    for registry in registries:
        if BY_KIND.get(registry.kind) is registry and not registry._entries and registry._prefetch is None:
            registry._catalogued = registry._catalogued or load_infos(registry.kind, registry.group, PluginInfo)
            stale += [registry] if registry._catalogued is None else []
    if not stale:
        return
    kinds = [r.kind for r in stale]
    code = f"from vlpbench.core.registry import BY_KIND\nfor kind in {kinds!r}:\n    BY_KIND[kind].discover()"
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    for registry in stale:
        registry._prefetch = child


def _within(module: str, packages: list[str]) -> bool:
    """Whether `module` is one of `packages` or inside one of them."""
    return any(module == package or module.startswith(package + ".") for package in packages)


STRATEGIES = Registry("strategy", "vlpbench.strategies", "vlpbench.strategies")
TASKS = Registry("task", "vlpbench.tasks", "vlpbench.tasks")
DATASETS = Registry("dataset", "vlpbench.datasets", "vlpbench.datasets")
MODELS = Registry("model", "vlpbench.models", "vlpbench.models")
#: the global registries by kind
BY_KIND = {registry.kind: registry for registry in (STRATEGIES, TASKS, DATASETS, MODELS)}


def register_strategy(
    name: str, description: str = "", reference: str = "", info: PluginInfo | None = None, options: type | None = None,
) -> Callable[[T], T]:
    """Register a strategy class (a `vlpbench.strategies.base.Strategy` subclass) or factory."""
    return STRATEGIES.register(name, description, reference, info, options)


def register_task(
    name: str, description: str = "", reference: str = "", info: PluginInfo | None = None, options: type | None = None,
) -> Callable[[T], T]:
    """Register a task class (a `vlpbench.tasks.base.Task` subclass)."""
    return TASKS.register(name, description, reference, info, options)


def register_dataset(
    name: str, description: str = "", reference: str = "", info: PluginInfo | None = None, options: type | None = None,
) -> Callable[[T], T]:
    """Register a dataset builder: `builder(options: DatasetOptions) -> Dataset`."""
    return DATASETS.register(name, description, reference, info, options)


def register_model(
    name: str, description: str = "", reference: str = "", info: PluginInfo | None = None, options: type | None = None,
) -> Callable[[T], T]:
    """Register an external-model family (a `vlpbench.models.base.ExternalModel` subclass): a
    released checkpoint evaluated as it is, beside the strategies."""
    return MODELS.register(name, description, reference, info, options)
