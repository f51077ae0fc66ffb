"""Functional losses of the pretraining strategies (the reference implementation).

Conventions shared by every function:

* features are raw (N, D) tensors and are L2-normalised here, so z_ij = û_i·v̂_j (ViLReF eq 1);
* ``logit_scale`` is 1/τ, a one-element tensor (or a float); logits l_ij = logit_scale · z_ij,
  hence σ_ij = exp(l_ij);
* every function returns a scalar tensor, works in float32 and float64 and is differentiable
  with respect to its feature / logit inputs;
* shape mismatches raise ``ValueError`` naming the argument and the expected shape.

Equation numbers refer to ViLReF (/work/shared/papers/ViLReF.txt) unless marked M-FLAG.
"""

from __future__ import annotations

import functools
from typing import Callable, TypeVar

import torch
import torch.nn.functional as F

__all__ = [
    "clip_loss",
    "label_similarity",
    "wsc_loss",
    "wsc_queue_loss",
    "medclip_loss",
    "unicl_loss",
    "mflag_align_loss",
    "mflag_orth_loss",
    "mae_loss",
    "deit_distill_loss",
]


# ----------------------------------------------------------------------------- profiling

_F = TypeVar("_F", bound=Callable[..., torch.Tensor])


def profiled(name: str) -> Callable[[_F], _F]:
    """Run the decorated loss inside a ``torch.profiler`` range named ``loss/<name>``, which is
    how ``bench speed`` finds the time spent in losses; without an active profiler the range
    costs a few microseconds per call and nothing else changes."""

    def decorate(function: _F) -> _F:
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with torch.profiler.record_function(f"loss/{name}"):
                return function(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


# ----------------------------------------------------------------------------- validation


def _check_2d(name: str, x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name}: expected a 2-D tensor (N, D), got {shape}")


def _check_same_shape(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    _check_2d(name_a, a)
    _check_2d(name_b, b)
    if a.shape != b.shape:
        raise ValueError(f"{name_a} {tuple(a.shape)} and {name_b} {tuple(b.shape)} must have the same shape")


def _check_shape(name: str, x: torch.Tensor, shape: tuple[int, ...]) -> None:
    if tuple(x.shape) != shape:
        raise ValueError(f"{name}: expected shape {shape}, got {tuple(x.shape)}")


def _scale(logit_scale: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    """logit_scale as a 0-dim tensor (a 0-dim tensor never changes the dtype of ``like``)."""
    if isinstance(logit_scale, torch.Tensor):
        scale = logit_scale.to(like.device)
    else:
        scale = torch.as_tensor(logit_scale, dtype=like.dtype, device=like.device)
    if scale.numel() != 1:
        raise ValueError(f"logit_scale: expected a single value, got shape {tuple(scale.shape)}")
    return scale.reshape(())


def _logits(anchors: torch.Tensor, keys: torch.Tensor, logit_scale: torch.Tensor | float) -> torch.Tensor:
    """l = logit_scale · â k̂ᵀ (eq 1 divided by τ)."""
    return _scale(logit_scale, anchors) * (F.normalize(anchors, dim=1) @ F.normalize(keys, dim=1).T)


# ----------------------------------------------------------------------------- CLIP


@profiled("clip_loss")
def clip_loss(
    image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor | float
) -> torch.Tensor:
    """Symmetric InfoNCE (CLIP): mean of the CE over rows and the CE over columns of
    logits = logit_scale · û v̂ᵀ, the diagonal being the targets."""
    _check_same_shape("image_features", image_features, "text_features", text_features)
    logits = _logits(image_features, text_features, logit_scale)
    targets = torch.arange(logits.shape[0], device=logits.device)
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)) / 2


# ----------------------------------------------------------------------------- ViLReF


@profiled("label_similarity")
def label_similarity(
    labels_a: torch.Tensor, labels_b: torch.Tensor | None = None, others_index: int | None = -1
) -> torch.Tensor:
    """Label cosine similarity s (eq 2; eq 10 when ``labels_b`` are the keys' labels).

    ``labels_a`` (N, C) and ``labels_b`` (M, C) are multi-hot; ``labels_b=None`` compares
    ``labels_a`` with itself. The ``others`` column (``others_index``; ``None`` keeps every
    column) is removed first, so two samples that are only "others" are full negatives.
    s_ij = 0 when either vector is zero (no NaN). The cosine is computed as
    y_i·y_j / sqrt(|y_i|²·|y_j|²), which is exactly 1 for identical binary vectors, and clamped
    to ≤ 1 against rounding, so identical labels always remove the pair in :func:`wsc_loss`.
    Returns an (N, M) floating tensor (integer/bool labels become float32).
    """
    _check_2d("labels_a", labels_a)
    labels_b = labels_a if labels_b is None else labels_b
    _check_2d("labels_b", labels_b)
    if labels_a.shape[1] != labels_b.shape[1]:
        raise ValueError(
            f"labels_a {tuple(labels_a.shape)} and labels_b {tuple(labels_b.shape)} "
            "must have the same number of columns"
        )
    n_cols = labels_a.shape[1]
    if others_index is not None:
        if not -n_cols <= others_index < n_cols:
            raise ValueError(f"others_index: {others_index} is out of range for {n_cols} label columns")
        keep = torch.ones(n_cols, dtype=torch.bool, device=labels_a.device)
        keep[others_index] = False
        labels_a, labels_b = labels_a[:, keep], labels_b[:, keep]
    dtype = torch.promote_types(labels_a.dtype, labels_b.dtype)
    if not dtype.is_floating_point:
        dtype = torch.float32
    a, b = labels_a.to(dtype), labels_b.to(dtype)
    dot = a @ b.T
    norms = torch.sqrt((a * a).sum(1)[:, None] * (b * b).sum(1)[None, :])
    nonzero = norms > 0
    s = torch.where(nonzero, dot / torch.where(nonzero, norms, torch.ones_like(norms)), torch.zeros_like(dot))
    return s.clamp(max=1.0)


def _check_similarity(similarity: torch.Tensor, shape: tuple[int, int]) -> None:
    _check_2d("similarity", similarity)
    _check_shape("similarity", similarity, shape)
    if bool((similarity > 1).any()):
        raise ValueError("similarity: values must be ≤ 1 (the weights 1 − s of eqs 3–4 must be ≥ 0)")


def _weighted_nce(logits: torch.Tensor, similarity: torch.Tensor) -> torch.Tensor:
    """One direction of the weighted similarity coupling loss (eq 3; eqs 4, 11, 12 by
    passing the matching logits), in log space.

    ``logits`` (N, M), M ≥ N: row i holds anchor i against M keys, key i is its positive.
    ``similarity`` (N, M): s_ij between anchor i and key j (its diagonal is ignored).
    Row loss = −l_ii + logsumexp([l_ii ; l_ij + log(1 − s_ij) for j ≠ i]); a weight of
    exactly 0 gives log-weight −inf through a mask, so the term and its gradient vanish.
    Returns the mean over the N anchors.
    """
    n = logits.shape[0]
    weights = 1 - similarity.to(logits.dtype)
    positive = torch.eye(n, logits.shape[1], dtype=torch.bool, device=logits.device)
    weights = torch.where(positive, torch.ones_like(weights), weights)
    present = weights > 0
    log_weights = torch.where(
        present,
        torch.log(torch.where(present, weights, torch.ones_like(weights))),
        torch.full_like(weights, float("-inf")),
    )
    diag = logits[:, :n].diagonal()
    return (torch.logsumexp(logits + log_weights, dim=1) - diag).mean()


@profiled("wsc_loss")
def wsc_loss(
    image_features: torch.Tensor,
    text_features: torch.Tensor,
    similarity: torch.Tensor,
    logit_scale: torch.Tensor | float,
) -> torch.Tensor:
    """In-batch weighted similarity coupling loss L_i2t + L_t2i (eqs 3–4).

    L_i2t = −(1/N) Σ_i log[σ_ii / (σ_ii + Σ_{j≠i} (1 − s_ij) σ_ij)]           (eq 3)
    L_t2i = −(1/N) Σ_i log[σ_ii / (σ_ii + Σ_{j≠i} (1 − s_ij) σ_ji)]           (eq 4)
    with σ_ij = exp(logit_scale · z_ij) and ``similarity`` = s (N, N) from
    :func:`label_similarity`, entries ≤ 1. s ≡ 0 gives 2 × :func:`clip_loss`; s_ij = 1 removes
    the pair (i, j) from anchor i's denominator. Gradients follow eqs 5–6.
    """
    _check_same_shape("image_features", image_features, "text_features", text_features)
    n = image_features.shape[0]
    _check_similarity(similarity, (n, n))
    logits = _logits(image_features, text_features, logit_scale)
    # t2i: row i of logits.T is text anchor i against images j (σ_ji), weighted by s_ij.
    return _weighted_nce(logits, similarity) + _weighted_nce(logits.T, similarity)


@profiled("wsc_queue_loss")
def wsc_queue_loss(
    image_features: torch.Tensor,
    text_features: torch.Tensor,
    image_keys: torch.Tensor,
    text_keys: torch.Tensor,
    similarity: torch.Tensor,
    logit_scale: torch.Tensor | float,
) -> torch.Tensor:
    """Batch-expansion terms L^(i2t),m + L^(t2i),m (eqs 11–12, with eqs 8–10).

    ``image_keys`` / ``text_keys`` (N + N_Q, D) are [this batch's momentum features ; queue].
    Online anchor i (image for i2t, text for t2i) has key i as its positive; every other key
    j is a negative weighted by (1 − similarity[i, j]), ``similarity`` (N, N + N_Q) being
    eq 10 between the anchors' labels and the keys' labels. Computed like :func:`wsc_loss`
    (log space, zero weights masked). With no queue, keys equal to the online features and
    s ≡ 0 this equals 2 × :func:`clip_loss`.
    """
    _check_same_shape("image_features", image_features, "text_features", text_features)
    _check_same_shape("image_keys", image_keys, "text_keys", text_keys)
    n, d = image_features.shape
    m = image_keys.shape[0]
    if image_keys.shape[1] != d or m < n:
        raise ValueError(
            f"image_keys/text_keys: expected shape (N + N_Q, {d}) with N = {n}, got {tuple(image_keys.shape)}"
        )
    _check_similarity(similarity, (n, m))
    i2t = _weighted_nce(_logits(image_features, text_keys, logit_scale), similarity)
    t2i = _weighted_nce(_logits(text_features, image_keys, logit_scale), similarity)
    return i2t + t2i


# ----------------------------------------------------------------------------- MedCLIP, UniCL


def _soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """−Σ_j t_ij log softmax(logits)_ij, averaged over the rows i."""
    return -(targets * F.log_softmax(logits, dim=1)).sum(1).mean()


@profiled("medclip_loss")
def medclip_loss(
    image_features: torch.Tensor,
    text_features: torch.Tensor,
    labels: torch.Tensor,
    logit_scale: torch.Tensor | float,
    similarity: str = "dot",
) -> torch.Tensor:
    """MedCLIP semantic matching loss.

    S = labels · labelsᵀ (``similarity="dot"``: raw dot product over every column, as in
    MedCLIP's code) or the eq-2 cosine of :func:`label_similarity` with every column kept
    (``"cosine"``; MedCLIP has no ``others`` convention). Targets are row-softmaxes: softmax(S)
    for image→text logits and softmax(Sᵀ) for text→image logits; the loss is the mean of
    the two soft cross-entropies (each averaged over the batch).
    """
    _check_same_shape("image_features", image_features, "text_features", text_features)
    _check_2d("labels", labels)
    if labels.shape[0] != image_features.shape[0]:
        raise ValueError(f"labels: expected {image_features.shape[0]} rows, got {tuple(labels.shape)}")
    logits = _logits(image_features, text_features, logit_scale)
    if similarity == "dot":
        y = labels.to(logits.dtype)
        sim = y @ y.T
    elif similarity == "cosine":
        sim = label_similarity(labels, others_index=None).to(logits.dtype)
    else:
        raise ValueError(f"similarity: expected 'dot' or 'cosine', got {similarity!r}")
    i2t = _soft_cross_entropy(logits, F.softmax(sim, dim=1))
    t2i = _soft_cross_entropy(logits.T, F.softmax(sim.T, dim=1))
    return (i2t + t2i) / 2


@profiled("unicl_loss")
def unicl_loss(
    image_features: torch.Tensor,
    text_features: torch.Tensor,
    labels: torch.Tensor,
    logit_scale: torch.Tensor | float,
) -> torch.Tensor:
    """UniCL bidirectional loss: T_ij = 1 iff labels_i and labels_j are identical vectors;
    targets are T row-normalised; soft cross-entropy image→text plus text→image (each a
    batch mean). With all labels distinct (T = I) this is 2 × :func:`clip_loss`."""
    _check_same_shape("image_features", image_features, "text_features", text_features)
    _check_2d("labels", labels)
    if labels.shape[0] != image_features.shape[0]:
        raise ValueError(f"labels: expected {image_features.shape[0]} rows, got {tuple(labels.shape)}")
    logits = _logits(image_features, text_features, logit_scale)
    same = (labels[:, None, :] == labels[None, :, :]).all(dim=2).to(logits.dtype)
    i2t = _soft_cross_entropy(logits, same / same.sum(1, keepdim=True))
    t2i = _soft_cross_entropy(logits.T, same.T / same.T.sum(1, keepdim=True))
    return i2t + t2i


# ----------------------------------------------------------------------------- M-FLAG


@profiled("mflag_align_loss")
def mflag_align_loss(projected_image_features: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
    """M-FLAG alignment loss (M-FLAG eq 2): batch mean of ‖z̄_a − z̄_t‖² = 2 − 2 cos(z_a, z_t).

    M-FLAG's public code adds the same term twice (2 × this value); the paper's eq 2 is used.
    """
    _check_same_shape(
        "projected_image_features", projected_image_features, "text_features", text_features
    )
    cos = (F.normalize(projected_image_features, dim=1) * F.normalize(text_features, dim=1)).sum(1)
    return (2 - 2 * cos).mean()


@profiled("mflag_orth_loss")
def mflag_orth_loss(image_features: torch.Tensor, lam: float = 0.0051, normalize: bool = False) -> torch.Tensor:
    """M-FLAG orthogonality loss (M-FLAG eq 3, Barlow-Twins form of M-FLAG's code).

    C = zᵀz / B (D × D) for z = ``image_features`` (B, D);
    L = Σ_i (C_ii − 1)² + lam · Σ_{i≠j} C_ij².

    ``normalize=False`` (default) uses the features as given, as M-FLAG's code does (it feeds
    the raw pooled encoder output, divides by the batch size and then halves the loss; the
    halving is not applied here). ``normalize=True`` first L2-normalises every sample, as the
    paper's text says (z̄_v); then trace(C) = 1, so the diagonal term cannot reach 0 for D > 1
    (its minimum is (D − 1)²/D at C_ii = 1/D). Standardising features (zero mean, unit
    variance per dimension, the Barlow Twins recipe) is left to the caller.
    """
    _check_2d("image_features", image_features)
    z = F.normalize(image_features, dim=1) if normalize else image_features
    c = z.T @ z / z.shape[0]
    diag = c.diagonal()
    off_diag = c - torch.diag_embed(diag)
    return ((diag - 1) ** 2).sum() + lam * (off_diag**2).sum()


# ----------------------------------------------------------------------------- MAE


@profiled("mae_loss")
def mae_loss(
    pred: torch.Tensor, target_patches: torch.Tensor, mask: torch.Tensor, norm_pix: bool = False
) -> torch.Tensor:
    """MAE reconstruction loss: per-patch MSE (mean over the P pixel values of a patch),
    averaged over the masked patches only.

    ``pred`` / ``target_patches`` (B, L, P); ``mask`` (B, L), 1 = masked (bool or 0/1).
    ``norm_pix=True`` normalises each target patch with its own mean and unbiased variance:
    (t − mean) / sqrt(var + 1e-6), as in the MAE code. An all-zero mask is a ValueError.
    """
    if pred.dim() != 3:
        raise ValueError(f"pred: expected a 3-D tensor (B, L, P), got {tuple(pred.shape)}")
    _check_shape("target_patches", target_patches, tuple(pred.shape))
    _check_shape("mask", mask, tuple(pred.shape[:2]))
    target = target_patches.to(pred.dtype)
    if norm_pix:
        mean = target.mean(dim=-1, keepdim=True)
        var = target.var(dim=-1, keepdim=True, unbiased=True)
        target = (target - mean) / torch.sqrt(var + 1e-6)
    weights = mask.to(pred.dtype)
    total = weights.sum()
    if not bool(total > 0):
        raise ValueError("mask: no patch is masked, the MAE loss is undefined")
    per_patch = ((pred - target) ** 2).mean(dim=-1)
    return (per_patch * weights).sum() / total


# ----------------------------------------------------------------------------- DeiT


@profiled("deit_distill_loss")
def deit_distill_loss(
    base_logits: torch.Tensor,
    dist_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    targets: torch.Tensor,
    alpha: float = 0.5,
    kind: str = "hard",
    tau: float = 1.0,
) -> torch.Tensor:
    """DeiT loss (1 − α) · CE(base_logits, targets) + α · distillation.

    ``kind="hard"``: CE(dist_logits, teacher_logits.argmax(1)).
    ``kind="soft"``: τ² · KL(softmax(teacher/τ) ‖ softmax(dist/τ)) summed over classes and
    averaged over the batch. DeiT's code divides the summed KL by ``dist_logits.numel()``
    (batch × classes), i.e. its soft term is this one divided by the number of classes.
    The teacher is frozen: ``teacher_logits`` are detached. ``targets`` are class indices (B,)
    or class probabilities (B, C), as for ``F.cross_entropy``.
    """
    _check_2d("base_logits", base_logits)
    _check_shape("dist_logits", dist_logits, tuple(base_logits.shape))
    _check_shape("teacher_logits", teacher_logits, tuple(base_logits.shape))
    if tuple(targets.shape) not in {tuple(base_logits.shape[:1]), tuple(base_logits.shape)}:
        raise ValueError(
            f"targets: expected shape {tuple(base_logits.shape[:1])} or {tuple(base_logits.shape)}, "
            f"got {tuple(targets.shape)}"
        )
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha: expected a value in [0, 1], got {alpha}")
    teacher = teacher_logits.detach()
    if kind == "hard":
        distill = F.cross_entropy(dist_logits, teacher.argmax(dim=1))
    elif kind == "soft":
        if not tau > 0:
            raise ValueError(f"tau: expected a positive temperature, got {tau}")
        kl = F.kl_div(
            F.log_softmax(dist_logits / tau, dim=1),
            F.log_softmax(teacher.to(dist_logits.dtype) / tau, dim=1),
            reduction="sum",
            log_target=True,
        )
        distill = kl * (tau * tau) / dist_logits.shape[0]
    else:
        raise ValueError(f"kind: expected 'hard' or 'soft', got {kind!r}")
    return (1 - alpha) * F.cross_entropy(base_logits, targets) + alpha * distill
