"""Run cache, pretraining loop (+ resume states), grid planning, units, the one evaluate-and-write path, launchers."""
