"""Pretraining strategies: one plugin file each, discovered automatically."""
