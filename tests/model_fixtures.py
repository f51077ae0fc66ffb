"""Tiny random checkpoints in each external-model family's native release format: the key names,
nesting and wrapping of the real files (see each `vlpbench.models` family's docstring for the
release code they follow), small widths. Each builder writes its files under `folder` and returns
the `--set` overrides that point the family at them and shrink its architecture to match."""

from __future__ import annotations

import argparse
from pathlib import Path

import timm
import torch
from safetensors.torch import save_file
from transformers import BertConfig, BertModel, BertTokenizer

WIDTH, DEPTH, IMG = 32, 2, 32
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"眼底出血视盘水肿黄斑正常渗出棉絮青光糖尿病变性未见",
         "fundus", "photograph", "of", "normal", "no", "hemorrhage", "exudate", "glaucoma", "diabetic", "retinopathy"]


def _randn(generator: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=generator) * 0.02


def vit_tensors(g: torch.Generator, prefix: str, dim: int, depth: int, patch: int, grid: int,
                layer_scale: bool = False) -> dict[str, torch.Tensor]:
    """DINO / MAE / DINOv2 ViT naming (timm's Block and PatchEmbed, which those releases use)."""
    out = {f"{prefix}cls_token": _randn(g, 1, 1, dim), f"{prefix}pos_embed": _randn(g, 1, grid * grid + 1, dim),
           f"{prefix}patch_embed.proj.weight": _randn(g, dim, 3, patch, patch), f"{prefix}patch_embed.proj.bias": _randn(g, dim),
           f"{prefix}norm.weight": 1 + _randn(g, dim), f"{prefix}norm.bias": _randn(g, dim)}
    for i in range(depth):
        block = f"{prefix}blocks.{i}."
        shapes = {"norm1": (dim,), "norm2": (dim,), "attn.qkv": (3 * dim, dim), "attn.proj": (dim, dim),
                  "mlp.fc1": (4 * dim, dim), "mlp.fc2": (dim, 4 * dim)}
        for name, shape in shapes.items():
            out[f"{block}{name}.weight"] = (1 + _randn(g, *shape)) if name.startswith("norm") else _randn(g, *shape)
            out[f"{block}{name}.bias"] = _randn(g, shape[0])
        if layer_scale:
            out[f"{block}ls1.gamma"] = 1e-1 + _randn(g, dim)
            out[f"{block}ls2.gamma"] = 1e-1 + _randn(g, dim)
    return out


def _arch(family: str, patch: int) -> list[str]:
    return [f"model.{family}.{key}={value}" for key, value in
            (("img_size", IMG), ("patch_size", patch), ("embed_dim", WIDTH), ("depth", DEPTH), ("heads", 2))]


def retfound_mae(folder: Path) -> list[str]:
    """`{"model": MAE state dict (encoder + decoder), "args": Namespace}` .pth (RETFound_mae_*.pth)."""
    g = torch.Generator().manual_seed(1)
    state = vit_tensors(g, "", WIDTH, DEPTH, 8, IMG // 8)
    decoder = vit_tensors(g, "decoder_", 16, 1, 8, IMG // 8)  # MAE decoder: decoder_blocks.N.*, decoder_pos_embed, …
    state |= {key: value for key, value in decoder.items() if key.startswith("decoder_blocks.")}
    state |= {"mask_token": _randn(g, 1, 1, 16), "decoder_pos_embed": decoder["decoder_pos_embed"],
              "decoder_embed.weight": _randn(g, 16, WIDTH), "decoder_embed.bias": _randn(g, 16),
              "decoder_norm.weight": 1 + _randn(g, 16), "decoder_norm.bias": _randn(g, 16),
              "decoder_pred.weight": _randn(g, 8 * 8 * 3, 16), "decoder_pred.bias": _randn(g, 8 * 8 * 3)}
    path = folder / "RETFound_mae_natureCFP.pth"
    torch.save({"model": state, "args": argparse.Namespace(model="mae_vit_large_patch16", norm_pix_loss=True)}, path)
    return [f"model.retfound-mae.weights={path}", *_arch("retfound-mae", 8)]


def _dinov2_teacher(g: torch.Generator, prefix: str) -> dict[str, torch.Tensor]:
    state = vit_tensors(g, prefix, WIDTH, DEPTH, 8, 6, layer_scale=True)  # pos_embed on a 6×6 grid (518 px in the release)
    state[f"{prefix}mask_token"] = torch.zeros(1, WIDTH)
    return state


def retfound_dinov2(folder: Path) -> list[str]:
    """`{"teacher": {backbone.* DINOv2 tensors, dino_head.*, ibot_head.*}}` .pth (RETFound_dinov2_meh.pth)."""
    g = torch.Generator().manual_seed(2)
    teacher = _dinov2_teacher(g, "backbone.")
    for head in ("dino_head", "ibot_head"):
        teacher |= {f"{head}.mlp.0.weight": _randn(g, 64, WIDTH), f"{head}.mlp.0.bias": _randn(g, 64),
                    f"{head}.last_layer.weight_g": torch.ones(128, 1), f"{head}.last_layer.weight_v": _randn(g, 128, 64)}
    path = folder / "RETFound_dinov2_meh.pth"
    torch.save({"teacher": teacher}, path)
    return [f"model.retfound-dinov2.weights={path}", *_arch("retfound-dinov2", 8)]


def dinov2(folder: Path) -> list[str]:
    """A flat DINOv2 hub state dict (dinov2_vitl14_pretrain.pth)."""
    path = folder / "dinov2_vitl14_pretrain.pth"
    torch.save(_dinov2_teacher(torch.Generator().manual_seed(3), ""), path)
    return [f"model.dinov2.weights={path}", *_arch("dinov2", 8)]


def visionfm(folder: Path) -> list[str]:
    """`{"teacher": {backbone.* ViT, head.*}, "student": …, "epoch"}` .pth (DINO/iBOT checkpoint)."""
    g = torch.Generator().manual_seed(4)
    teacher = vit_tensors(g, "backbone.", WIDTH, DEPTH, 8, IMG // 8)
    teacher |= {"head.mlp.0.weight": _randn(g, 64, WIDTH), "head.mlp.0.bias": _randn(g, 64),
                "head.last_layer.weight_g": torch.ones(128, 1), "head.last_layer.weight_v": _randn(g, 128, 64)}
    path = folder / "VFM_Fundus_weights.pth"
    torch.save({"teacher": teacher, "student": {k: v.clone() for k, v in teacher.items()}, "epoch": 100}, path)
    return [f"model.visionfm.weights={path}", *_arch("visionfm", 8)]


def _bert_folder(folder: Path, vocab: list[str]) -> tuple[Path, BertModel]:
    """A local BERT folder (config.json + tokenizer) and a random BertModel with its pooler, as
    `AutoModel.from_pretrained` gives it."""
    directory = folder / "bert"
    directory.mkdir(exist_ok=True)
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizer(str(directory / "vocab.txt"))
    tokenizer.save_pretrained(directory)
    config = BertConfig(vocab_size=len(vocab), hidden_size=WIDTH, num_hidden_layers=DEPTH, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=300)
    config.save_pretrained(directory)
    torch.manual_seed(5)
    return directory, BertModel(config)


def flair(folder: Path, family: str = "flair") -> list[str]:
    """`torch.save(FLAIRModel.state_dict())`: vision_model.model.* (torchvision ResNet-50 names),
    projection heads, text_model.model.* (BertModel with pooler), logit_scale."""
    channels = [8, 16, 32, 64]
    resnet = timm.create_model("resnet50", num_classes=0, layers=[1, 1, 1, 1], channels=tuple(channels), stem_width=8)
    text_dir, bert = _bert_folder(folder, WORDS)
    g = torch.Generator().manual_seed(6)
    state = {f"vision_model.model.{k}": v for k, v in resnet.state_dict().items()}
    state["vision_model.projection_head_vision.projection.weight"] = _randn(g, 16, resnet.num_features)
    state |= {f"text_model.model.{k}": v for k, v in bert.state_dict().items()}
    state["text_model.projection_head_text.projection.weight"] = _randn(g, 16, WIDTH)
    state["logit_scale"] = torch.tensor(2.65)
    if family == "keepfit":
        state |= {f"attention.W_{p}.weight": _randn(g, 16, 16) for p in "qkvo"}
    path = folder / f"{family}_resnet.pth"
    torch.save(state, path)
    return [f"model.{family}.weights={path}", f"model.{family}.text_dir={text_dir}", f"model.{family}.img_size={IMG}",
            f"model.{family}.proj_dim=16", f"model.{family}.resnet_layers=[1,1,1,1]", f"model.{family}.resnet_channels=[{','.join(map(str, channels))}]"]


def keepfit(folder: Path) -> list[str]:
    return flair(folder, "keepfit")


def chinese_clip_state(folder: Path, text_head: str = "matrix") -> tuple[dict[str, torch.Tensor], Path]:
    """Chinese-CLIP `CLIP.state_dict()` tensors (OpenAI VisualTransformer + BERT naming)."""
    g = torch.Generator().manual_seed(7)
    grid, embed = IMG // 8, 16
    state = {"visual.conv1.weight": _randn(g, WIDTH, 3, 8, 8), "visual.class_embedding": _randn(g, WIDTH),
             "visual.positional_embedding": _randn(g, grid * grid + 1, WIDTH), "visual.proj": _randn(g, WIDTH, embed)}
    for norm in ("ln_pre", "ln_post"):
        state |= {f"visual.{norm}.weight": 1 + _randn(g, WIDTH), f"visual.{norm}.bias": _randn(g, WIDTH)}
    for i in range(DEPTH):
        block = f"visual.transformer.resblocks.{i}."
        state |= {f"{block}attn.in_proj_weight": _randn(g, 3 * WIDTH, WIDTH), f"{block}attn.in_proj_bias": _randn(g, 3 * WIDTH),
                  f"{block}attn.out_proj.weight": _randn(g, WIDTH, WIDTH), f"{block}attn.out_proj.bias": _randn(g, WIDTH),
                  f"{block}mlp.c_fc.weight": _randn(g, 4 * WIDTH, WIDTH), f"{block}mlp.c_fc.bias": _randn(g, 4 * WIDTH),
                  f"{block}mlp.c_proj.weight": _randn(g, WIDTH, 4 * WIDTH), f"{block}mlp.c_proj.bias": _randn(g, WIDTH)}
        for norm in ("ln_1", "ln_2"):
            state |= {f"{block}{norm}.weight": 1 + _randn(g, WIDTH), f"{block}{norm}.bias": _randn(g, WIDTH)}
    tokenizer_dir, bert = _bert_folder(folder, WORDS)
    state |= {f"bert.{k}": v for k, v in bert.state_dict().items()}
    if text_head == "matrix":
        state["text_projection"] = _randn(g, WIDTH, embed)
    else:  # RET-CLIP: Linear-ReLU-Linear heads, global and per eye, and the binocular mappings
        for head in ("text_projection", "text_projection_left", "text_projection_right"):
            state |= {f"{head}.0.weight": _randn(g, WIDTH, WIDTH), f"{head}.0.bias": _randn(g, WIDTH),
                      f"{head}.2.weight": _randn(g, embed, WIDTH), f"{head}.2.bias": _randn(g, embed)}
        state |= {"logit_scale_left": torch.tensor(4.5), "logit_scale_right": torch.tensor(4.5),
                  "global_feature_mapping.weight": _randn(g, embed, 2 * embed),
                  "left_feature_mapping.weight": _randn(g, embed, embed), "right_feature_mapping.weight": _randn(g, embed, embed)}
    state["logit_scale"] = torch.tensor(4.6)
    return state, tokenizer_dir


def chinese_clip(folder: Path, family: str = "cn-clip", text_head: str = "matrix") -> list[str]:
    """`{"epoch", "step", "name", "state_dict": {module.…}}` .pt, as Chinese-CLIP's training saves it."""
    state, tokenizer_dir = chinese_clip_state(folder, text_head)
    path = folder / f"{family}.pt"
    torch.save({"epoch": 1, "step": 10, "name": family, "state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    return [f"model.{family}.weights={path}", f"model.{family}.tokenizer={tokenizer_dir}", f"model.{family}.img_size={IMG}",
            f"model.{family}.text_heads=2", f"model.{family}.max_length=24"]


def vilref(folder: Path) -> list[str]:
    return chinese_clip(folder, "vilref")


def ret_clip(folder: Path) -> list[str]:
    return chinese_clip(folder, "ret-clip", text_head="mlp")


def timm_test_vit(folder: Path) -> list[str]:
    """A timm-named safetensors file of timm's `test_vit` (the `timm:<name>` escape hatch)."""
    model = timm.create_model("test_vit", num_classes=0, img_size=IMG)
    path = folder / "test_vit.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return [f"model.timm.weights={path}", f"model.timm.img_size={IMG}"]


#: row name → (fixture builder, has a text tower)
FAMILIES = {
    "retfound-mae": (retfound_mae, False), "retfound-dinov2": (retfound_dinov2, False), "dinov2": (dinov2, False),
    "visionfm": (visionfm, False), "flair": (flair, True), "keepfit": (keepfit, True), "cn-clip": (chinese_clip, True),
    "vilref": (vilref, True), "ret-clip": (ret_clip, True), "timm:test_vit": (timm_test_vit, False),
}
