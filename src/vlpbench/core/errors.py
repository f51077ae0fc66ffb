"""User-facing errors: one line naming the thing and what was expected; the CLI exits 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class VlpbenchError(Exception):
    """An error caused by the user's input (file, field, name, config); printed as one line."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """` — did you mean 'a', 'b'?` for the choices close to a mistyped `name` ("" when none is)."""
    close = difflib.get_close_matches(name, sorted(choices), n=3, cutoff=0.5)
    return f" — did you mean {', '.join(repr(c) for c in close)}?" if close else ""
