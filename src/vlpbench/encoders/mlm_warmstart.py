"""Shared text initialisation for the quick/smoke profiles: the text backbone is first trained
with masked-language modelling on the corpus reports (BERT recipe: 15 % of tokens, 80 % [MASK],
10 % random, 10 % kept). ViLReF starts every strategy from the same CN-CLIP weights; here every
strategy starts from this same language model, which is also M-FLAG's frozen text encoder."""

from __future__ import annotations

import torch
import transformers
from torch import nn

from vlpbench.core.config import TextEncoderConfig
from vlpbench.core.progress import progress_bar
from vlpbench.core.seeding import torch_generator
from vlpbench.encoders.tokenizer import Tokenizer
from vlpbench.encoders.towers import trim_padding


def mask_tokens(
    token_ids: torch.Tensor, tokenizer: Tokenizer, generator: torch.Generator, probability: float = 0.15
) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) for MLM; targets are -100 where no prediction is asked."""
    special = torch.isin(token_ids, torch.tensor(tokenizer.special_ids))
    chosen = (torch.rand(token_ids.shape, generator=generator) < probability) & ~special
    targets = torch.where(chosen, token_ids, torch.full_like(token_ids, -100))
    draw = torch.rand(token_ids.shape, generator=generator)
    inputs = token_ids.clone()
    inputs[chosen & (draw < 0.8)] = tokenizer.mask_id
    random_tokens = torch.randint(len(tokenizer.special_ids), tokenizer.vocab_size, token_ids.shape, generator=generator)
    replace = chosen & (draw >= 0.8) & (draw < 0.9)
    inputs[replace] = random_tokens[replace]
    return inputs, targets


def mlm_pretrain(
    backbone: nn.Module, config: TextEncoderConfig, tokenizer: Tokenizer, token_ids: torch.Tensor,
    attention_mask: torch.Tensor, steps: int, batch_size: int, lr: float, seed: int,
) -> list[float]:
    """Train `backbone` (a transformers BertModel/RobertaModel) in place; returns the losses."""

    head_class = transformers.RobertaForMaskedLM if config.family == "roberta" else transformers.BertForMaskedLM
    model = head_class(backbone.config)
    setattr(model, model.base_model_prefix, backbone)
    model.tie_weights()
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    generator = torch_generator(seed)
    losses: list[float] = []
    with progress_bar("MLM warm start (text encoder)", steps) as advance:
        for _ in range(steps):
            index = torch.randint(0, token_ids.shape[0], (batch_size,), generator=generator)
            ids, mask = trim_padding(token_ids[index], attention_mask[index])
            inputs, targets = mask_tokens(ids, tokenizer, generator)
            loss = model(input_ids=inputs, attention_mask=mask, labels=targets).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
            advance(f"loss {losses[-1]:.3f}")
    return losses
