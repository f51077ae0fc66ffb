"""The one place vlpbench output meets rich.

Every console is made here with markup off, so text a user supplied (a report, a file name, a
path, a plugin name) is printed exactly as written — `[/b]` in a report or `cfg[old].yaml` is
never read as a style tag. Styles are given explicitly (`style=`, `rich.text.Text`), never
written into strings. Progress bars (core/progress.py) show their text with markup off too. A
test checks that no other module constructs a `Console`.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text


def make_console(stderr: bool = False) -> Console:
    """A console that prints strings literally (no markup, no highlighting)."""
    return Console(stderr=stderr, markup=False, highlight=False)


def printable(text: str) -> str:
    """`text` with control characters (CR, LF, NUL, ESC, …) written as escapes (\\r, \\x00), so
    user text shown in a message keeps the message on one line and cannot steer the terminal."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def print_error(message: str) -> None:
    """`error: <message>` on stderr as one line, however wide the terminal."""
    make_console(stderr=True).print(Text.assemble(("error:", "bold red"), " ", printable(message)), soft_wrap=True)


def print_warning(message: str) -> None:
    """A one-line warning on stderr."""
    make_console(stderr=True).print(printable(message), style="yellow", soft_wrap=True)
