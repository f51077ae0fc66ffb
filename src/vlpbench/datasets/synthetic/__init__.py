"""Procedural retinal corpus: latent findings, renderer, report writer, acquisition sites."""
