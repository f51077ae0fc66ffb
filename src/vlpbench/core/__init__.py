"""Lowest layer: errors, atomic writes, provenance, threads, progress, registry, config, seeding, records, distributed helpers. Imports nothing else from vlpbench."""
