"""Terminal tables that fit the console with every name whole.

A `TextTable` is a table of strings: key columns (the names a row is read by: dataset, strategy,
unit) and value columns (numbers). `fit` renders it as rich tables no wider than the console.
Every column is as wide as its widest cell and never wraps, so a name is never cut (`syn-…`),
folded or wrapped; value columns that do not fit beside the key columns continue in a further
table that repeats the key columns, the way pandas wraps a wide frame. Titles and captions are
prose: lines of their own that wrap at spaces.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.cells import cell_len
from rich.console import Group
from rich.table import Table
from rich.text import Text

#: characters a column takes besides its text: one space of padding each side and its right border
COLUMN_CHROME = 3


@dataclass
class TextTable:
    """A table of strings: `keys` (left-aligned name columns, repeated in every block) and
    `values` (right-aligned); each row holds the key cells then the value cells."""

    title: str
    keys: list[str]
    values: list[str]
    rows: list[list[str]] = field(default_factory=list)
    #: indices of the rows a rule follows
    rules: set[int] = field(default_factory=set)
    caption: str = ""
    #: a group label per value column (e.g. its metric): a group is kept in one block when it fits
    groups: list[str] = field(default_factory=list)

    def add_row(self, cells: list[str], rule: bool = False) -> None:
        if len(cells) != len(self.keys) + len(self.values):
            raise ValueError(f"row of {len(cells)} cells for {len(self.keys)} key and {len(self.values)} value columns")
        if rule:
            self.rules.add(len(self.rows))
        self.rows.append(cells)

    def column_widths(self) -> list[int]:
        """Each column's width: its widest cell or header, in terminal cells."""
        headers = [*self.keys, *self.values]
        return [max(cell_len(text) for text in [header, *(row[i] for row in self.rows)]) for i, header in enumerate(headers)]

    def width(self) -> int:
        """Characters the whole table takes on one line (left border included)."""
        return 1 + sum(w + COLUMN_CHROME for w in self.column_widths())


def blocks(table: TextTable, width: int) -> list[list[int]]:
    """The value columns (indices into `table.values`) of each block: as many as fit beside the
    key columns in `width`, at least one per block; a group of columns (`table.groups`) is kept
    in one block unless it alone is too wide."""
    widths = [w + COLUMN_CHROME for w in table.column_widths()]
    keys = 1 + sum(widths[:len(table.keys)])
    values = widths[len(table.keys):]
    groups = table.groups or list(range(len(table.values)))
    out: list[list[int]] = [[]]
    used = keys
    for group in dict.fromkeys(groups):
        members = [i for i, g in enumerate(groups) if g == group]
        if out[-1] and used + sum(values[i] for i in members) > width:
            out.append([])
            used = keys
        for i in members:
            if out[-1] and used + values[i] > width:
                out.append([])
                used = keys
            out[-1].append(i)
            used += values[i]
    return out


def fit(table: TextTable, width: int) -> list[Group]:
    """`table` as rich tables of at most `width` characters (while the key columns and any one
    value column fit), each under its title line; the caption follows the last. Title and caption
    wrap at the console's width, not the table's."""
    parts = blocks(table, width)
    widths = table.column_widths()
    n_keys = len(table.keys)
    out = []
    for number, part in enumerate(parts):
        rich_table = Table()
        for i, header in enumerate(table.keys):
            rich_table.add_column(header, justify="left", no_wrap=True, min_width=widths[i], overflow="fold")
        for i in part:
            rich_table.add_column(table.values[i], justify="right", no_wrap=True, min_width=widths[n_keys + i], overflow="fold")
        for index, row in enumerate(table.rows):
            rich_table.add_row(*row[:n_keys], *(row[n_keys + i] for i in part), end_section=index in table.rules)
        title = table.title + (f" (part {number + 1}/{len(parts)})" if len(parts) > 1 else "")
        caption = [Text(table.caption)] if table.caption and number == len(parts) - 1 else []
        out.append(Group(Text(title, style="bold"), rich_table, *caption))
    return out
