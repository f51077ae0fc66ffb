"""The valid values of a setting, declared once, next to the setting.

A config field (shared section or a plugin's `Options`) states its range or choices in its
`dataclasses.field` metadata; `core.config.validate_config` checks every field when the config
resolves, before any work, and names the key, the value and what was expected:

    steps: int = field(default=300, metadata=at_least(1))
    lr: float = field(default=1e-3, metadata=positive)
    kind: str = field(default="hard", metadata=one_of("hard", "soft"))
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98], metadata=each(between(0, 1, high_open=True), length=2))
    results_dir: str = field(default="results", metadata=folder)

Every float (and every float in a list) must also be finite, with or without metadata. Adding
metadata changes neither a default nor a config hash (hashes read the values only).

The path helpers (`expect_folder`, `expect_file`) check where a folder or a file is expected,
before anything is written: an existing path of the other kind, or a file in the way of a
folder that must be created, is a one-line `VlpbenchError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from vlpbench.core.errors import VlpbenchError

#: the metadata key holding a field's `Rule`
RULE = "vlpbench.rule"
#: the metadata key marking a plugin setting that is an image side fed to the image tower
IMAGE_SIDE = "vlpbench.image_side"


@dataclass(frozen=True)
class Rule:
    """`test(value)` is True (valid), False (invalid: "expected `expected`") or a string saying
    what is wrong with this value in particular."""

    expected: str
    test: Callable[[Any], bool | str]

    def problem(self, value: Any) -> str | None:
        """None when `value` is valid, else the text after "expected"."""
        verdict = self.test(value)
        if verdict is True:
            return None
        return f"{self.expected} ({verdict})" if isinstance(verdict, str) else self.expected


def rule(test: Callable[[Any], bool | str], expected: str) -> dict[str, Rule]:
    """Field metadata with a custom rule (a predicate and the words for what it accepts)."""
    return {RULE: Rule(expected, test)}


def rule_of(metadata: Mapping[str, Any]) -> Rule | None:
    return metadata.get(RULE)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _show(bound: float) -> str:
    return f"{bound:g}" if isinstance(bound, float) else str(bound)


def at_least(low: float) -> dict[str, Rule]:
    """A number ≥ `low` (an integer field says "an integer")."""
    kind = "an integer" if isinstance(low, int) else "a number"
    return rule(lambda v: _number(v) and v >= low, f"{kind} >= {_show(low)}")


def greater_than(low: float) -> dict[str, Rule]:
    return rule(lambda v: _number(v) and v > low, f"a number > {_show(low)}")


#: a number > 0 (learning rates, temperatures, scales)
positive = greater_than(0.0)


def between(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> dict[str, Rule]:
    """A number in [low, high], either end open on request."""
    def test(value: Any) -> bool:
        if not _number(value):
            return False
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        return above and below
    interval = f"{'(' if low_open else '['}{_show(low)}, {_show(high)}{')' if high_open else ']'}"
    return rule(test, f"a number in {interval}")


def one_of(*choices: Any) -> dict[str, Rule]:
    return rule(lambda v: v in choices, "one of " + ", ".join(repr(c) for c in choices))


def each(item: dict[str, Rule], *, length: int | None = None, non_empty: bool = True) -> dict[str, Rule]:
    """A list whose every item passes `item` (and, optionally, of exactly `length` items)."""
    inner = item[RULE]

    def test(values: Any) -> bool | str:
        if not isinstance(values, list):
            return False
        if length is not None and len(values) != length:
            return f"got {len(values)} items"
        if non_empty and not values:
            return "got an empty list"
        bad = [v for v in values if inner.problem(v) is not None]
        return f"{bad[0]!r} is not" if bad else True

    count = f"{length} items" if length is not None else "a non-empty list" if non_empty else "a list"
    return rule(test, f"{count}, each {inner.expected}")


def multiple_of(step: int, *, zero: bool = False) -> dict[str, Rule]:
    """A positive integer multiple of `step` (or 0, meaning "off", when `zero`)."""
    def test(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0 and value % step == 0 and (zero or value > 0)
    return rule(test, f"{'0 or ' if zero else ''}a positive multiple of {step}")


def image_side(item: dict[str, Rule]) -> dict[str, Any]:
    """`item`, and the value is an image side the image tower tokenises: with a ViT built from
    size fields it must also be a multiple of `encoders.image.patch_size` (a cross-field rule
    of `core.config.validate_config`; 0 = off is left alone)."""
    return {**item, IMAGE_SIDE: True}


def slurm_name() -> dict[str, Rule]:
    """A Slurm partition or account name: text without spaces ("" = the cluster's default)."""
    return rule(lambda v: isinstance(v, str) and not any(c.isspace() for c in v), "a name without spaces, or \"\"")


def sbatch_options() -> dict[str, Rule]:
    """A mapping of sbatch option names (without --) to values, e.g. {qos: high, constraint: a100}."""
    return rule(lambda v: isinstance(v, dict) and all(isinstance(k, str) and k and not k.startswith("-") for k in v),
                "a mapping of sbatch option names (without --) to values")


def optional(item: dict[str, Rule]) -> dict[str, Rule]:
    """None, or a value that passes `item`."""
    inner = item[RULE]
    return rule(lambda v: v is None or inner.problem(v) is None, f"null or {inner.expected}")


def _path_test(kind: str) -> Callable[[Any], bool | str]:
    def test(value: Any) -> bool | str:
        if not isinstance(value, str):
            return False
        if not value:
            return True  # unset
        return path_problem(Path(value), kind) or True
    return test


#: a folder, or a path where one can be created ("" = unset); an existing file is an error
folder = rule(_path_test("folder"), "a folder")
#: a file, or a path where one can be written ("" = unset); an existing folder is an error
file = rule(_path_test("file"), "a file")


def path_problem(path: Path, kind: str) -> str | None:
    """Why `path` cannot be a `kind` ("folder" or "file"): it exists as the other kind, or an
    ancestor that would have to be a folder is a file. None when it can."""
    try:
        return _kind_problem(path, kind)
    except (OSError, ValueError) as error:  # a NUL byte, a name too long for the file system, …
        return f"it is not a usable path: {getattr(error, 'strerror', None) or error}"


def _kind_problem(path: Path, kind: str) -> str | None:
    if path.exists():
        if kind == "folder" and not path.is_dir():
            return "it is a file"
        if kind == "file" and path.is_dir():
            return "it is a folder"
        return None
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else f"{parent} is a file"
    return None


def expect_folder(path: Path | str, what: str, must_exist: bool = False) -> Path:
    """`path` if it is (or can become) a folder, else a one-line error naming `what` and it."""
    return _expect(Path(path), "folder", what, must_exist)


def expect_file(path: Path | str, what: str, must_exist: bool = False) -> Path:
    """`path` if it is (or can become) a file, else a one-line error naming `what` and it."""
    return _expect(Path(path), "file", what, must_exist)


def _expect(path: Path, kind: str, what: str, must_exist: bool) -> Path:
    problem = path_problem(path, kind)
    if problem is None and must_exist and not path.exists():
        problem = "it does not exist"
    if problem is not None:
        raise VlpbenchError(f"{what} {path}: expected a {kind}, but {problem}")
    return path


def non_finite(value: Any) -> bool:
    """A float that is NaN or infinite (also inside a list)."""
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, list):
        return any(non_finite(v) for v in value)
    return False
