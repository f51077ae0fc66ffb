"""Shared image/text towers, tokenizer, Chinese-CLIP import, local weights, MLM warm start, preprocessing."""
