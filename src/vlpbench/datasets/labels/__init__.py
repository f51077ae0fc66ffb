"""Expert knowledge base (YAML per language), report converter and label statistics."""
