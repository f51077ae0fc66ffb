"""Tiny random checkpoints in each external-model family's native release format: the key names,
nesting and wrapping of the real files (see each `vlpbench.models` family's docstring for the
release code they follow), small widths. Each builder writes its files under `folder` and returns
the `--set` overrides that point the family at them and shrink its architecture to match."""

from __future__ import annotations

import argparse
import json
from collections import OrderedDict
from pathlib import Path

import timm
import torch
import torch.nn.functional as F
import transformers
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


def _visual_transformer(g: torch.Generator) -> dict[str, torch.Tensor]:
    """Chinese-CLIP `VisualTransformer` tensors (OpenAI-CLIP naming), patch 8, 16-d embedding."""
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
    return state


class Bottleneck(torch.nn.Module):
    """Chinese-CLIP's `Bottleneck` (OFA-Sys/Chinese-CLIP `cn_clip/clip/model.py`, = T6Yang/ViLReF's),
    transcribed: stride-1 convs, an avg-pool after conv2 and before the 1×1 shortcut when strided."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        nn = torch.nn
        self.conv1, self.bn1 = nn.Conv2d(inplanes, planes, 1, bias=False), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False), nn.BatchNorm2d(planes)
        self.avgpool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3, self.bn3 = nn.Conv2d(planes, planes * 4, 1, bias=False), nn.BatchNorm2d(planes * 4)
        self.downsample = None
        if stride > 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(OrderedDict([("-1", nn.AvgPool2d(stride)), ("0", nn.Conv2d(inplanes, planes * 4, 1, bias=False)),
                                                         ("1", nn.BatchNorm2d(planes * 4))]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.avgpool(F.relu(self.bn2(self.conv2(out))))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (self.downsample(x) if self.downsample is not None else x))


class ModifiedResNet(torch.nn.Module):
    """Chinese-CLIP's `ModifiedResNet` + `AttentionPool2d`, transcribed (3-conv stem, avg-pool,
    four bottleneck layers, attention pooling through `F.multi_head_attention_forward`)."""

    def __init__(self, layers: list[int], output_dim: int, heads: int, input_resolution: int, width: int) -> None:
        super().__init__()
        nn = torch.nn
        self.conv1, self.bn1 = nn.Conv2d(3, width // 2, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(width // 2)
        self.conv2, self.bn2 = nn.Conv2d(width // 2, width // 2, 3, padding=1, bias=False), nn.BatchNorm2d(width // 2)
        self.conv3, self.bn3 = nn.Conv2d(width // 2, width, 3, padding=1, bias=False), nn.BatchNorm2d(width)
        self.avgpool = nn.AvgPool2d(2)
        inplanes = width
        for i, blocks in enumerate(layers):
            planes, stride = width * 2**i, 1 if i == 0 else 2
            self.add_module(f"layer{i + 1}", nn.Sequential(*[Bottleneck(inplanes if b == 0 else planes * 4, planes, stride if b == 0 else 1)
                                                           for b in range(blocks)]))
            inplanes = planes * 4
        self.attnpool = nn.Module()
        embed = width * 32
        self.attnpool.positional_embedding = nn.Parameter(torch.randn((input_resolution // 32) ** 2 + 1, embed) / embed**0.5)
        for name in ("k_proj", "q_proj", "v_proj"):
            self.attnpool.add_module(name, nn.Linear(embed, embed))
        self.attnpool.c_proj = nn.Linear(embed, output_dim)
        self.heads = heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, bn in ((self.conv1, self.bn1), (self.conv2, self.bn2), (self.conv3, self.bn3)):
            x = F.relu(bn(conv(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.avgpool(x)))))
        pool = self.attnpool
        x = x.flatten(2).permute(2, 0, 1)
        x = torch.cat([x.mean(dim=0, keepdim=True), x], dim=0) + pool.positional_embedding[:, None, :]
        x, _ = F.multi_head_attention_forward(
            x, x, x, x.shape[-1], self.heads, q_proj_weight=pool.q_proj.weight, k_proj_weight=pool.k_proj.weight,
            v_proj_weight=pool.v_proj.weight, in_proj_weight=None,
            in_proj_bias=torch.cat([pool.q_proj.bias, pool.k_proj.bias, pool.v_proj.bias]), bias_k=None, bias_v=None,
            add_zero_attn=False, dropout_p=0.0, out_proj_weight=pool.c_proj.weight, out_proj_bias=pool.c_proj.bias,
            use_separate_proj_weight=True, training=False, need_weights=False)
        return x[0]


#: the tiny ModifiedResNet of the RN50 fixtures: width 8 (RN50: 64), one block per layer, 16-d embedding
RESNET_WIDTH, RESNET_LAYERS, RESNET_EMBED = 8, [1, 1, 1, 1], 16


def modified_resnet(seed: int = 8) -> ModifiedResNet:
    """A random tiny `ModifiedResNet` with non-trivial batch-norm statistics, in eval mode."""
    torch.manual_seed(seed)
    model = ModifiedResNet(RESNET_LAYERS, RESNET_EMBED, RESNET_WIDTH * 32 // 64, IMG, RESNET_WIDTH)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.normal_(0, 0.1)
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def chinese_clip_state(folder: Path, text_head: str = "matrix", tower: str = "vit") -> tuple[dict[str, torch.Tensor], Path]:
    """Chinese-CLIP `CLIP.state_dict()` tensors (OpenAI VisualTransformer or ModifiedResNet + BERT naming)."""
    g = torch.Generator().manual_seed(7)
    state = _visual_transformer(g) if tower == "vit" else {f"visual.{k}": v for k, v in modified_resnet().state_dict().items()}
    embed = 16
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


def chinese_clip(folder: Path, family: str = "cn-clip", text_head: str = "matrix", tower: str = "vit") -> list[str]:
    """`{"epoch", "step", "name", "state_dict": {module.…}}` .pt, as Chinese-CLIP's training saves it."""
    state, tokenizer_dir = chinese_clip_state(folder, text_head, tower)
    path = folder / f"{family}.pt"
    torch.save({"epoch": 1, "step": 10, "name": family, "state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    return [f"model.{family}.weights={path}", f"model.{family}.tokenizer={tokenizer_dir}", f"model.{family}.img_size={IMG}",
            f"model.{family}.text_heads=2", f"model.{family}.max_length=24"]


def vilref(folder: Path) -> list[str]:
    return chinese_clip(folder, "vilref")


def vilref_rn50(folder: Path) -> list[str]:
    return chinese_clip(folder, "vilref-rn50", tower="resnet")


def cn_clip_rn50(folder: Path) -> list[str]:
    return chinese_clip(folder, "cn-clip-rn50", tower="resnet")


def ret_clip(folder: Path) -> list[str]:
    return chinese_clip(folder, "ret-clip", text_head="mlp")


def timm_test_vit(folder: Path) -> list[str]:
    """A timm-named safetensors file of timm's `test_vit` (the `timm:<name>` escape hatch)."""
    model = timm.create_model("test_vit", num_classes=0, img_size=IMG)
    path = folder / "test_vit.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return [f"model.timm.weights={path}", f"model.timm.img_size={IMG}"]


#: pixel statistics of the hf-clip fixtures' image processor (not CLIP's, so a test can tell)
HF_MEAN, HF_STD = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
CLIP_WORDS = ["fundus", "photograph", "of", "a", "normal", "no", "hemorrhage", "exudate", "glaucoma", "diabetic", "retinopathy"]


def _clip_tokenizer() -> transformers.CLIPTokenizer:
    """A byte-level BPE CLIP tokenizer over letters and a few whole words (merges spelling them)."""
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    merges = []
    for letter in "abcdefghijklmnopqrstuvwxyz":
        vocab.setdefault(letter, len(vocab))
        vocab.setdefault(f"{letter}</w>", len(vocab))
    for word in CLIP_WORDS:
        pieces = [*word[:-1], f"{word[-1]}</w>"]
        while len(pieces) > 1:  # merge left to right: f+u, fu+n, …
            merges.append((pieces[0], pieces[1]))
            pieces = [pieces[0] + pieces[1], *pieces[2:]]
            vocab.setdefault(pieces[0], len(vocab))
    return transformers.CLIPTokenizer(vocab=vocab, merges=merges)


def hf_clip_folder(directory: Path, kind: str = "clip") -> torch.nn.Module:
    """A tiny random `CLIPModel` (or `ChineseCLIPModel`) saved with save_pretrained (safetensors),
    its tokenizer and an image processor config, as a Hugging Face hub folder holds them."""
    directory.mkdir(parents=True)
    vision = dict(hidden_size=WIDTH, num_hidden_layers=DEPTH, num_attention_heads=2, intermediate_size=64, image_size=IMG, patch_size=8)
    torch.manual_seed(9)
    if kind == "clip":
        tokenizer = _clip_tokenizer()
        text = dict(vocab_size=len(tokenizer), hidden_size=WIDTH, num_hidden_layers=DEPTH, num_attention_heads=2,
                    intermediate_size=64, max_position_embeddings=40, bos_token_id=0, eos_token_id=1, pad_token_id=1)
        model = transformers.CLIPModel(transformers.CLIPConfig(text_config=text, vision_config=vision, projection_dim=16))
    else:
        (directory / "vocab.txt").write_text("\n".join(WORDS) + "\n", encoding="utf-8")
        tokenizer = BertTokenizer(str(directory / "vocab.txt"))
        text = dict(vocab_size=len(WORDS), hidden_size=WIDTH, num_hidden_layers=DEPTH, num_attention_heads=2, intermediate_size=64,
                    max_position_embeddings=64)
        model = transformers.ChineseCLIPModel(transformers.ChineseCLIPConfig(text_config=text, vision_config=vision, projection_dim=16))
    model.eval().save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)
    processor = {"image_processor_type": "CLIPImageProcessor", "crop_size": {"height": IMG, "width": IMG},
                 "size": {"shortest_edge": IMG}, "image_mean": HF_MEAN, "image_std": HF_STD}
    (directory / "preprocessor_config.json").write_text(json.dumps(processor), encoding="utf-8")
    return model


def hf_clip(folder: Path) -> list[str]:
    """`hf-clip:tiny-clip`: a CLIPModel folder under the root `folder`."""
    hf_clip_folder(folder / "tiny-clip")
    return [f"model.hf-clip.root={folder}"]


def hf_chinese_clip(folder: Path) -> list[str]:
    """`hf-clip:tiny-cn-clip`: a ChineseCLIPModel folder under the root `folder`."""
    hf_clip_folder(folder / "tiny-cn-clip", "chinese_clip")
    return [f"model.hf-clip.root={folder}"]


#: row name → (fixture builder, has a text tower)
FAMILIES = {
    "retfound-mae": (retfound_mae, False), "retfound-dinov2": (retfound_dinov2, False), "dinov2": (dinov2, False),
    "visionfm": (visionfm, False), "flair": (flair, True), "keepfit": (keepfit, True), "cn-clip": (chinese_clip, True),
    "vilref": (vilref, True), "vilref-rn50": (vilref_rn50, True), "cn-clip-rn50": (cn_clip_rn50, True), "ret-clip": (ret_clip, True), "timm:test_vit": (timm_test_vit, False),
    "hf-clip:tiny-clip": (hf_clip, True), "hf-clip:tiny-cn-clip": (hf_chinese_clip, True),
}
