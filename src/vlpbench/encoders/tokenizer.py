"""Tokenizers with one interface: Chinese character-level (vocabulary built from the corpus),
and a wrapper around a local Hugging Face tokenizer directory."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Protocol

import torch
import transformers

from vlpbench.core.errors import VlpbenchError

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# One token per CJK character (ViLReF §III-E segments Chinese by characters), ASCII words and
# numbers as whole tokens, any other non-space character on its own.
_TOKEN_PATTERN = re.compile(r"[a-z]+|[0-9]+(?:\.[0-9]+)?|\S")


class Tokenizer(Protocol):
    """What the text encoder and the strategies need from a tokenizer."""

    pad_id: int
    mask_id: int
    unk_id: int
    vocab_size: int
    special_ids: tuple[int, ...]

    def encode(self, texts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]: ...

    def save(self, directory: Path) -> None: ...


def split_tokens(text: str, pattern: re.Pattern[str] = _TOKEN_PATTERN) -> list[str]:
    return pattern.findall(text.lower())


def term_pattern(terms: Iterable[str]) -> re.Pattern[str]:
    """Whole medical terms first (longest match wins), then the character-level fallback."""
    multi = sorted({t.lower() for t in terms if len(t) > 1}, key=lambda t: (-len(t), t))
    if not multi:
        return _TOKEN_PATTERN
    return re.compile("|".join(re.escape(t) for t in multi) + "|" + _TOKEN_PATTERN.pattern)


class CharTokenizer:
    """Term-aware character tokenizer; `[CLS] tokens [SEP]` padded with `[PAD]`.

    Every multi-character entry of the vocabulary (the knowledge base's terms, synonyms and
    abbreviations given to `build`, plus words and numbers) is one token, matched longest first;
    everything else is one token per character. A bare class term in a prompt is then the very
    token the reports use, which is what lets a small text tower ground it."""

    file_name = "vocab.json"

    def __init__(self, vocab: list[str]) -> None:
        if list(vocab[: len(SPECIAL_TOKENS)]) != list(SPECIAL_TOKENS):
            raise VlpbenchError(f"tokenizer vocabulary must start with {SPECIAL_TOKENS}")
        self.vocab = list(vocab)
        self.index = {token: i for i, token in enumerate(self.vocab)}
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = range(5)
        self.special_ids = (self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id)
        # entries the character-level pattern would split are whole terms
        self.pattern = term_pattern(token for token in self.vocab[len(SPECIAL_TOKENS):] if not _TOKEN_PATTERN.fullmatch(token))

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    @classmethod
    def build(cls, texts: Iterable[str], min_count: int = 1, terms: Iterable[str] = ()) -> "CharTokenizer":
        """The vocabulary of `texts`, with the multi-character `terms` kept whole."""
        pattern = term_pattern(terms)
        counts = Counter(token for text in texts for token in split_tokens(text, pattern))
        tokens = sorted(token for token, count in counts.items() if count >= min_count)
        return cls(list(SPECIAL_TOKENS) + tokens)

    def encode(self, texts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        ids = torch.full((len(texts), max_length), self.pad_id, dtype=torch.long)
        for row, text in enumerate(texts):
            tokens = [self.index.get(t, self.unk_id) for t in split_tokens(text, self.pattern)][: max_length - 2]
            sequence = [self.cls_id, *tokens, self.sep_id]
            ids[row, : len(sequence)] = torch.tensor(sequence)
        return ids, (ids != self.pad_id).long()

    def save(self, directory: Path) -> None:
        (directory / self.file_name).write_text(json.dumps(self.vocab, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> "CharTokenizer":
        path = directory / cls.file_name
        try:
            return cls(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as error:
            raise VlpbenchError(f"tokenizer vocabulary {path} unreadable: {error}") from None


class HFTokenizer:
    """A local Hugging Face tokenizer directory (e.g. RoBERTa-wwm-ext-base-chinese)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise VlpbenchError(f"text encoder directory {self.directory} does not exist")
        self.inner = transformers.AutoTokenizer.from_pretrained(str(self.directory), local_files_only=True)
        self.pad_id = self.inner.pad_token_id
        self.mask_id = self.inner.mask_token_id
        self.unk_id = self.inner.unk_token_id
        self.vocab_size = len(self.inner)
        self.special_ids = tuple(self.inner.all_special_ids)

    def encode(self, texts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.inner(texts, padding="max_length", truncation=True, max_length=max_length, return_tensors="pt")
        return out["input_ids"], out["attention_mask"]

    def save(self, directory: Path) -> None:
        self.inner.save_pretrained(str(directory))
