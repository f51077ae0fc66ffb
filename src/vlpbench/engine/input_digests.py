"""What a cached checkpoint or text warm start was made of besides its settings: content digests
of the user's files it read (a corpus manifest and its images, weights files, Hugging Face
folders), so editing a manifest in place or overwriting a weights file gives new cache keys
instead of a stale checkpoint or a tokenizer that no longer fits the cached text encoder.

Only files the config names enter: with none (the synthetic default) the digests are empty and
the keys are what the settings alone give. Computed once per grid run (`run_grid` calls
`refresh_input_digests` first, so a long-lived process sees files edited between runs); the file
digests come from the run folder's `DigestIndex` (a stat per unchanged file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from vlpbench.core.config import RunConfig
from vlpbench.core.fingerprint import INDEX_NAME, DigestIndex
from vlpbench.datasets.manifest import manifest_files


def input_digests(config: RunConfig) -> dict[str, str]:
    """`{config key: content digest}` of each user file or folder the config names (empty: none)."""
    encoders = config.encoders
    trees = (("encoders.image.weights", encoders.image.weights), ("encoders.text.hf_dir", encoders.text.hf_dir),
             ("encoders.clip_checkpoint", encoders.clip_checkpoint))
    return dict(_digests(str(Path(config.runs_dir) / INDEX_NAME), config.corpus.manifest,
                         tuple((key, path) for key, path in trees if path)))


@lru_cache(maxsize=16)
def _digests(index_path: str, manifest: str, trees: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    index = DigestIndex.at(Path(index_path))
    found = [("corpus.manifest", index.files(manifest_files(Path(manifest))))] if manifest else []
    return (*found, *((key, index.tree(path)) for key, path in trees))


def refresh_input_digests() -> None:
    """Forget the digests computed so far: the next `input_digests` looks at the files again."""
    _digests.cache_clear()
