"""Run cache, pretraining loop, grid planning, the one evaluate-and-write path, parallel execution."""
