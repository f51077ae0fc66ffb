"""Deprecated package: the engine moved into `core`, `encoders`, `engine`, `report` and `app`.

Only `vlpbench.benchmark.registry` is kept, for one release, so that out-of-tree plugins written
against the old import path keep working (with a DeprecationWarning)."""
