"""Chinese-CLIP import: a tiny random ChineseCLIPModel saved with save_pretrained(safetensors)
loads into vlpbench's timm image encoder and BERT text encoder, whose projected embeddings equal
ChineseCLIPModel.get_image_features / get_text_features on the same image and text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vlpbench.core.config import EncoderConfig, ImageEncoderConfig, TextEncoderConfig
from vlpbench.core.errors import VlpbenchError
from vlpbench.encoders.chinese_clip import build_text_backbone, load_chinese_clip
from vlpbench.encoders.preprocessing import MEAN, STD
from vlpbench.encoders.tokenizer import HFTokenizer
from vlpbench.encoders.towers import ImageEncoder, TextEncoder, build_image_encoder, build_text_encoder
from vlpbench.encoders.weights import load_checked

CHARS = list("眼底出血视盘水肿黄斑正常渗出棉絮斑青光")
IMAGE, PATCH, WIDTH, PROJ = 32, 8, 32, 16


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> tuple[Path, torch.nn.Module]:
    from transformers import BertTokenizer, ChineseCLIPConfig, ChineseCLIPModel

    directory = tmp_path_factory.mktemp("cn-clip")
    vocab = directory / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *dict.fromkeys(CHARS)]) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(str(vocab))
    torch.manual_seed(0)
    config = ChineseCLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=WIDTH, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=40),
        vision_config=dict(hidden_size=WIDTH, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                           image_size=IMAGE, patch_size=PATCH),
        projection_dim=PROJ,
    )
    model = ChineseCLIPModel(config).eval()
    model.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    assert (directory / "model.safetensors").is_file()
    return directory, model


def image_encoder(directory: Path, img_size: int = IMAGE) -> ImageEncoder:
    """vlpbench's ImageEncoder built from `encoders.clip_checkpoint` (CLIP-style timm ViT)."""
    config = EncoderConfig(image=ImageEncoderConfig(img_size=img_size), proj_dim=PROJ, clip_checkpoint=str(directory))
    return build_image_encoder(config).eval()


def clip_pixels(pixels: torch.Tensor, mean=None, std=None) -> torch.Tensor:
    from transformers.image_utils import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

    mean = torch.tensor(mean or OPENAI_CLIP_MEAN)[:, None, None]
    std = torch.tensor(std or OPENAI_CLIP_STD)[:, None, None]
    return (pixels - mean) / std


def test_image_embedding_equals_chinese_clip(checkpoint):
    directory, model = checkpoint
    image_state, _, _ = load_chinese_clip(directory)
    encoder = image_encoder(directory)
    load_checked(encoder, image_state, "cn-clip")
    pixels = torch.rand(3, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model.get_image_features(pixel_values=clip_pixels(pixels)).pooler_output
        ours = encoder((pixels - MEAN) / STD)  # the vlpbench normalisation of the same image
    assert ours.shape == (3, PROJ)
    torch.testing.assert_close(ours, expected, atol=1e-4, rtol=1e-4)


def test_text_embedding_equals_chinese_clip(checkpoint):
    directory, model = checkpoint
    _, text_state, tokenizer_dir = load_chinese_clip(directory)
    tokenizer = HFTokenizer(tokenizer_dir)
    encoder = TextEncoder(TextEncoderConfig(width=WIDTH, layers=2, heads=2, intermediate=64, max_length=12, pooling="cls"), PROJ, tokenizer)
    encoder.backbone = build_text_backbone(directory)
    load_checked(encoder, text_state, "cn-clip")
    encoder.eval()
    ids, mask = encoder.tokenize(["眼底出血", "视盘水肿，黄斑渗出", "正常"])
    assert ids[0, 1].item() not in (tokenizer.pad_id, tokenizer.inner.unk_token_id)
    with torch.no_grad():
        expected = model.get_text_features(input_ids=ids, attention_mask=mask).pooler_output
        ours = encoder(ids, mask)
    torch.testing.assert_close(ours, expected, atol=1e-4, rtol=1e-4)


def test_text_encoder_built_from_clip_checkpoint_config(checkpoint):
    directory, model = checkpoint
    config = EncoderConfig(text=TextEncoderConfig(max_length=12, pooling="cls"), proj_dim=PROJ, clip_checkpoint=str(directory))
    encoder = build_text_encoder(config, HFTokenizer(directory)).eval()
    ids, mask = encoder.tokenize(["眼底出血", "正常"])
    with torch.no_grad():
        expected = model.get_text_features(input_ids=ids, attention_mask=mask).pooler_output
        torch.testing.assert_close(encoder(ids, mask), expected, atol=1e-4, rtol=1e-4)


def test_other_image_size_resamples_the_position_embedding(checkpoint):
    directory, _ = checkpoint
    image_state, _, _ = load_chinese_clip(directory, img_size=48)
    assert image_state["backbone.pos_embed"].shape == (1, (48 // PATCH) ** 2 + 1, WIDTH)
    encoder = image_encoder(directory, 48)
    load_checked(encoder, image_state, "cn-clip")
    with torch.no_grad():
        assert torch.isfinite(encoder(torch.zeros(2, 3, 48, 48))).all()


def test_preprocessor_normalisation_is_used(checkpoint, tmp_path):
    directory, model = checkpoint
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in directory.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    (copy / "preprocessor_config.json").write_text(json.dumps({"image_mean": mean, "image_std": std}))
    image_state, _, _ = load_chinese_clip(copy)
    encoder = image_encoder(copy)
    load_checked(encoder, image_state, "cn-clip")
    pixels = torch.rand(2, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = model.get_image_features(pixel_values=clip_pixels(pixels, mean, std)).pooler_output
        torch.testing.assert_close(encoder((pixels - MEAN) / STD), expected, atol=1e-4, rtol=1e-4)


def test_a_directory_of_another_model_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(VlpbenchError, match="chinese_clip|config"):
        load_chinese_clip(tmp_path)
