"""External (released) models evaluated as they are: one plugin file per family, discovered automatically."""
