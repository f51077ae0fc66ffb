"""Evaluation tasks: one plugin file each, discovered automatically."""
