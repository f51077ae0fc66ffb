"""vlpbench: a benchmark suite for medical vision(-language) pretraining strategies."""

__version__ = "0.1.0"
