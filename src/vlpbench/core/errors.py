"""User-facing errors: one line naming the thing and what was expected; the CLI exits 2."""


class VlpbenchError(Exception):
    """An error caused by the user's input (file, field, name, config); printed as one line."""
