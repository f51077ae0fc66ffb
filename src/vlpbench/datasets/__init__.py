"""Synthetic corpus, report converter + knowledge base, and dataset loaders."""
