"""Tests of vlpbench.strategies.losses against naive loop transcriptions of the equations,
hand-computed cases and limiting cases. Equation numbers: ViLReF unless marked M-FLAG."""

from __future__ import annotations

import math
import time

import pytest
import torch
import torch.nn.functional as F

from vlpbench.strategies import losses as L
from vlpbench.strategies.losses import (
    clip_loss,
    deit_distill_loss,
    label_similarity,
    mae_loss,
    medclip_loss,
    mflag_align_loss,
    mflag_orth_loss,
    unicl_loss,
    wsc_loss,
    wsc_queue_loss,
)

ATOL = 1e-8
E = math.e


def close(actual: torch.Tensor, expected: float, atol: float = ATOL) -> bool:
    return abs(float(actual) - expected) <= atol


def rand(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.float64)


def rand_labels(n: int, c: int, seed: int = 0, p: float = 0.3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, c, generator=g) < p).to(torch.float64)


# ----------------------------------------------------------------------------- naive transcriptions
# Plain Python loops over i, j with math.exp / math.log on lists of floats.


def nv_unit(rows: torch.Tensor) -> list[list[float]]:
    out = []
    for r in rows.tolist():
        n = math.sqrt(sum(x * x for x in r))
        out.append([x / n for x in r])
    return out


def nv_dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b))


def nv_z(u: torch.Tensor, v: torch.Tensor) -> list[list[float]]:
    """Eq 1: cosine between every row of u and every row of v."""
    uu, vv = nv_unit(u), nv_unit(v)
    return [[nv_dot(a, b) for b in vv] for a in uu]


def nv_cross_entropy(rows: list[list[float]], targets: list[list[float]]) -> float:
    total = 0.0
    for r, t in zip(rows, targets):
        log_den = math.log(sum(math.exp(x) for x in r))
        total += -sum(tj * (x - log_den) for x, tj in zip(r, t))
    return total / len(rows)


def transpose(m: list[list[float]]) -> list[list[float]]:
    return [list(c) for c in zip(*m)]


def one_hot(n: int) -> list[list[float]]:
    return [[1.0 if i == j else 0.0 for j in range(n)] for i in range(n)]


def nv_clip(u, v, scale) -> float:
    z = nv_z(u, v)
    lg = [[scale * x for x in r] for r in z]
    n = len(lg)
    return (nv_cross_entropy(lg, one_hot(n)) + nv_cross_entropy(transpose(lg), one_hot(n))) / 2


def nv_label_similarity(ya, yb, others_index=-1) -> list[list[float]]:
    """Eq 2 / eq 10."""
    a, b = ya.tolist(), yb.tolist()
    c = len(a[0])
    keep = [k for k in range(c) if others_index is None or k != others_index % c]
    s = []
    for yi in a:
        row = []
        for yj in b:
            dot = sum(yi[k] * yj[k] for k in keep)
            ni = math.sqrt(sum(yi[k] ** 2 for k in keep))
            nj = math.sqrt(sum(yj[k] ** 2 for k in keep))
            row.append(dot / (ni * nj) if ni * nj != 0 else 0.0)
        s.append(row)
    return s


def nv_wsc_i2t(sigma: list[list[float]], s: list[list[float]]) -> float:
    """Eq 3 (eq 11 with N + N_Q keys): −(1/N) Σ_i log[σ_ii / (σ_ii + Σ_{j≠i} (1 − s_ij) σ_ij)]."""
    n = len(sigma)
    total = 0.0
    for i in range(n):
        den = sigma[i][i]
        for j in range(len(sigma[i])):
            if j != i:
                den += (1 - s[i][j]) * sigma[i][j]
        total += -math.log(sigma[i][i] / den)
    return total / n


def nv_wsc_t2i(sigma: list[list[float]], s: list[list[float]]) -> float:
    """Eq 4: −(1/N) Σ_i log[σ_ii / (σ_ii + Σ_{j≠i} (1 − s_ij) σ_ji)]."""
    n = len(sigma)
    total = 0.0
    for i in range(n):
        den = sigma[i][i]
        for j in range(n):
            if j != i:
                den += (1 - s[i][j]) * sigma[j][i]
        total += -math.log(sigma[i][i] / den)
    return total / n


def nv_sigma(u, v, scale) -> list[list[float]]:
    return [[math.exp(scale * x) for x in r] for r in nv_z(u, v)]


def nv_wsc(u, v, s, scale) -> float:
    sig = nv_sigma(u, v, scale)
    return nv_wsc_i2t(sig, s) + nv_wsc_t2i(sig, s)


def nv_wsc_queue(u, v, ku, kv, s, scale) -> float:
    """Eqs 11–12: anchors u_i (v_i), keys v^m_j (u^m_j), key i positive, σ^(t2i),m_ji = exp(u^m_j·v_i/τ)."""
    sig_i2t = nv_sigma(u, kv, scale)  # [i][j] = σ^(i2t),m_ij
    sig_t2i = nv_sigma(v, ku, scale)  # [i][j] = σ^(t2i),m_ji (text anchor i, image key j)
    return nv_wsc_i2t(sig_i2t, s) + nv_wsc_i2t(sig_t2i, s)


def softmax_rows(m: list[list[float]]) -> list[list[float]]:
    out = []
    for r in m:
        den = sum(math.exp(x) for x in r)
        out.append([math.exp(x) / den for x in r])
    return out


def nv_medclip(u, v, y, scale, cosine=False) -> float:
    yl = y.tolist()
    n = len(yl)
    if cosine:
        sim = nv_label_similarity(y, y, others_index=None)
    else:
        sim = [[nv_dot(yl[i], yl[j]) for j in range(n)] for i in range(n)]
    lg = [[scale * x for x in r] for r in nv_z(u, v)]
    return (nv_cross_entropy(lg, softmax_rows(sim)) + nv_cross_entropy(transpose(lg), softmax_rows(transpose(sim)))) / 2


def nv_unicl(u, v, y, scale) -> float:
    yl = y.tolist()
    n = len(yl)
    t = [[1.0 if yl[i] == yl[j] else 0.0 for j in range(n)] for i in range(n)]
    tn = [[x / sum(r) for x in r] for r in t]
    tt = transpose(t)
    ttn = [[x / sum(r) for x in r] for r in tt]
    lg = [[scale * x for x in r] for r in nv_z(u, v)]
    return nv_cross_entropy(lg, tn) + nv_cross_entropy(transpose(lg), ttn)


def nv_align(p, t) -> float:
    pp, tt = nv_unit(p), nv_unit(t)
    return sum(2 - 2 * nv_dot(a, b) for a, b in zip(pp, tt)) / len(pp)


def nv_orth(zv, lam, normalize) -> float:
    z = nv_unit(zv) if normalize else zv.tolist()
    b, d = len(z), len(z[0])
    total = 0.0
    for i in range(d):
        for j in range(d):
            c = sum(z[k][i] * z[k][j] for k in range(b)) / b
            total += (c - 1) ** 2 if i == j else lam * c * c
    return total


def nv_mae(pred, target, mask, norm_pix) -> float:
    num, den = 0.0, 0.0
    for pb, tb, mb in zip(pred.tolist(), target.tolist(), mask.tolist()):
        for p, t, m in zip(pb, tb, mb):
            if norm_pix:
                mean = sum(t) / len(t)
                var = sum((x - mean) ** 2 for x in t) / (len(t) - 1)
                t = [(x - mean) / math.sqrt(var + 1e-6) for x in t]
            mse = sum((a - b) ** 2 for a, b in zip(p, t)) / len(p)
            num += m * mse
            den += m
    return num / den


def nv_deit(base, dist, teacher, targets, alpha, kind, tau) -> float:
    b = base.tolist()
    d = dist.tolist()
    te = teacher.tolist()
    n = len(b)
    ce_base = nv_cross_entropy(b, [[1.0 if k == y else 0.0 for k in range(len(b[0]))] for y in targets.tolist()])
    if kind == "hard":
        arg = [max(range(len(r)), key=r.__getitem__) for r in te]
        distill = nv_cross_entropy(d, [[1.0 if k == a else 0.0 for k in range(len(r))] for a, r in zip(arg, d)])
    else:
        distill = 0.0
        for dr, tr in zip(d, te):
            pt = softmax_rows([[x / tau for x in tr]])[0]
            ps = softmax_rows([[x / tau for x in dr]])[0]
            distill += sum(p * (math.log(p) - math.log(q)) for p, q in zip(pt, ps))
        distill = distill / n * tau * tau
    return (1 - alpha) * ce_base + alpha * distill


# ----------------------------------------------------------------------------- random inputs vs naive


N, D, NQ, C = 6, 5, 4, 7
SCALE = 2.7


def test_clip_matches_naive():
    u, v = rand(N, D, seed=1), rand(N, D, seed=2)
    assert close(clip_loss(u, v, torch.tensor(SCALE, dtype=torch.float64)), nv_clip(u, v, SCALE))


def test_label_similarity_matches_naive():
    ya, yb = rand_labels(N, C, seed=3), rand_labels(N + NQ, C, seed=4)
    ya[0] = 0  # a zero vector
    ya[1] = 0
    ya[1, -1] = 1  # only "others"
    for others in (-1, None, 2):
        got = label_similarity(ya, yb, others_index=others)
        want = torch.tensor(nv_label_similarity(ya, yb, others), dtype=torch.float64)
        assert got.shape == (N, N + NQ)
        assert torch.allclose(got, want, atol=ATOL, rtol=0)
    assert torch.allclose(label_similarity(ya), torch.tensor(nv_label_similarity(ya, ya), dtype=torch.float64), atol=ATOL, rtol=0)


def test_wsc_matches_naive():
    u, v = rand(N, D, seed=5), rand(N, D, seed=6)
    y = rand_labels(N, C, seed=7, p=0.5)
    y[2] = y[4]  # identical labels: weight exactly 0
    s = label_similarity(y)
    s[0, 1] = 0.3  # break symmetry so that s vs sᵀ in eq 4 matters
    assert close(wsc_loss(u, v, s, SCALE), nv_wsc(u, v, s.tolist(), SCALE))


def test_wsc_queue_matches_naive():
    u, v = rand(N, D, seed=8), rand(N, D, seed=9)
    ku, kv = rand(N + NQ, D, seed=10), rand(N + NQ, D, seed=11)
    y, yk = rand_labels(N, C, seed=12, p=0.5), rand_labels(N + NQ, C, seed=13, p=0.5)
    yk[N + 1] = y[0]  # a queue entry with anchor 0's labels: weight exactly 0
    s = label_similarity(y, yk)
    assert s[0, N + 1] == 1.0
    got = wsc_queue_loss(u, v, ku, kv, s, SCALE)
    assert close(got, nv_wsc_queue(u, v, ku, kv, s.tolist(), SCALE))


@pytest.mark.parametrize("cosine", [False, True])
def test_medclip_matches_naive(cosine):
    u, v = rand(N, D, seed=14), rand(N, D, seed=15)
    y = rand_labels(N, C, seed=16, p=0.5)
    y[3] = 0
    got = medclip_loss(u, v, y, SCALE, similarity="cosine" if cosine else "dot")
    assert close(got, nv_medclip(u, v, y, SCALE, cosine=cosine))


def test_unicl_matches_naive():
    u, v = rand(N, D, seed=17), rand(N, D, seed=18)
    y = rand_labels(N, 3, seed=19, p=0.5)
    y[1] = y[4]
    y[2] = y[4]
    assert close(unicl_loss(u, v, y, SCALE), nv_unicl(u, v, y, SCALE))


def test_mflag_match_naive():
    p, t = rand(N, D, seed=20), rand(N, D, seed=21)
    assert close(mflag_align_loss(p, t), nv_align(p, t))
    z = rand(N, D, seed=22)
    for normalize in (False, True):
        assert close(mflag_orth_loss(z, lam=0.3, normalize=normalize), nv_orth(z, 0.3, normalize))
    assert close(mflag_orth_loss(z), nv_orth(z, 0.0051, False))


@pytest.mark.parametrize("norm_pix", [False, True])
def test_mae_matches_naive(norm_pix):
    pred, target = rand(3, 5, 4, seed=23), rand(3, 5, 4, seed=24)
    mask = torch.tensor([[1, 0, 1, 1, 0], [0, 0, 0, 0, 1], [1, 1, 1, 1, 1]], dtype=torch.float64)
    assert close(mae_loss(pred, target, mask, norm_pix=norm_pix), nv_mae(pred, target, mask, norm_pix))
    assert close(mae_loss(pred, target, mask.bool(), norm_pix=norm_pix), nv_mae(pred, target, mask, norm_pix))


@pytest.mark.parametrize("kind,tau,alpha", [("hard", 1.0, 0.5), ("soft", 1.0, 0.5), ("soft", 3.0, 0.25)])
def test_deit_matches_naive(kind, tau, alpha):
    base, dist, teacher = rand(N, 4, seed=25), rand(N, 4, seed=26), 3 * rand(N, 4, seed=27)
    targets = torch.tensor([0, 1, 2, 3, 0, 1])
    got = deit_distill_loss(base, dist, teacher, targets, alpha=alpha, kind=kind, tau=tau)
    assert close(got, nv_deit(base, dist, teacher, targets, alpha, kind, tau))


# ----------------------------------------------------------------------------- hand-computed cases

I2 = torch.eye(2, dtype=torch.float64)
I3 = torch.eye(3, dtype=torch.float64)


def test_clip_hand():
    # u = v = I2, scale 1 ⇒ logits = I2; every row/column: −log(e / (e + 1)) = log(1 + 1/e)
    # = 0.31326168751822286; the mean of both directions is the same.
    assert close(clip_loss(I2, I2, 1.0), 0.31326168751822286)
    # features are L2-normalised inside: scaling them changes nothing
    assert close(clip_loss(5 * I2, 0.1 * I2, 1.0), 0.31326168751822286)


def test_wsc_hand_two_samples():
    # u = v = I2, scale 1, s_01 = s_10 = 0.5: every anchor: −log(e / (e + 0.5·1)) = log(1 + 0.5/e)
    # = 0.1688476234983058; L_i2t = L_t2i = that ⇒ total 0.3376952469966116.
    s = torch.tensor([[1.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    assert close(wsc_loss(I2, I2, s, 1.0), 0.3376952469966116)


def test_wsc_hand_three_samples():
    # u = v = I3, scale 1 (σ_ii = e, σ_ij = 1); s_01 = 1 (identical labels), s_02 = 0, s_12 = 0.5.
    # anchor 0: e + 0·1 + 1·1   ⇒ log(1 + 1/e)   = 0.31326168751822286
    # anchor 1: e + 0·1 + 0.5·1 ⇒ log(1 + 0.5/e) = 0.1688476234983058
    # anchor 2: e + 1·1 + 0.5·1 ⇒ log(1 + 1.5/e) = 0.43942789548574057
    # L_i2t = L_t2i = mean = 0.30717906884; total = 0.6143581376681795
    s = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.5], [0.0, 0.5, 1.0]], dtype=torch.float64)
    assert close(wsc_loss(I3, I3, s, 1.0), 0.6143581376681795)


def test_label_similarity_hand():
    # columns: a, b, others. y0 = [1,1,0], y1 = [1,0,1], y2 = [0,0,1] (only others), y3 = [0,0,0]
    y = torch.tensor([[1, 1, 0], [1, 0, 1], [0, 0, 1], [0, 0, 0]])
    s = label_similarity(y)
    # without others: y0 = [1,1], y1 = [1,0] ⇒ cos = 1/√2; y2, y3 are zero ⇒ 0 (no NaN)
    want = torch.tensor(
        [
            [1.0, 1 / math.sqrt(2), 0.0, 0.0],
            [1 / math.sqrt(2), 1.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 0.0],
        ]
    )
    assert s.dtype == torch.float32
    assert torch.allclose(s, want, atol=1e-7, rtol=0)
    assert not torch.isnan(s).any()
    # keeping others: y1 = [1,0,1] vs y2 = [0,0,1] ⇒ 1/√2; y0 vs y1 ⇒ 1/2; y2 vs itself = 1
    s_all = label_similarity(y.double(), others_index=None)
    assert close(s_all[1, 2], 1 / math.sqrt(2))
    assert close(s_all[0, 1], 0.5)
    assert s_all[2, 2] == 1.0 and s_all[3, 3] == 0.0
    # others given as a positive index gives the same matrix
    assert torch.equal(label_similarity(y, others_index=2), s)


def test_label_similarity_identical_is_exactly_one():
    # identical multi-hot vectors give exactly 1 (so the weight 1 − s is exactly 0)
    y = torch.tensor([[1, 1, 0, 1, 0], [0, 1, 1, 1, 0]] * 2, dtype=torch.float32)
    s = label_similarity(y, others_index=None)
    assert s[0, 2] == 1.0 and s[1, 3] == 1.0 and s[0, 0] == 1.0
    assert (s <= 1).all()


def test_unicl_hand():
    # labels y0 = y1 = [1,0], y2 = [0,1]; u = v = I3, scale 1.
    # targets rows: [.5,.5,0], [.5,.5,0], [0,0,1]; log-softmax of a row = x − log(e + 2)
    # rows 0, 1: −(.5·(1 − log(e+2)) + .5·(−log(e+2))) = log(e+2) − 0.5; row 2: log(e+2) − 1
    # one direction = log(e+2) − 2/3; both (symmetric) = 2·(log(e+2) − 2/3) = 1.7695560945307685
    y = torch.tensor([[1, 0], [1, 0], [0, 1]])
    assert close(unicl_loss(I3, I3, y, 1.0), 1.7695560945307685)


def test_medclip_hand():
    # labels y0 = [1,0], y1 = [1,1]: S = [[1,1],[1,2]]; softmax rows [.5,.5], [1/(1+e), e/(1+e)].
    # u = v = I2, scale 1: log-softmax rows [1 − log(e+1), −log(e+1)] (and mirrored).
    # row 0: log(e+1) − 0.5; row 1 (log-softmax [−log(e+1), 1 − log(e+1)]): log(e+1) − e/(1+e)
    # ⇒ mean log(e+1) − (0.5 + e/(1+e))/2; the column direction is identical (S, logits
    # symmetric) ⇒ 0.6977323982032204.
    y = torch.tensor([[1.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    assert close(medclip_loss(I2, I2, y, 1.0), 0.6977323982032204)
    assert close(medclip_loss(I2, I2, y, 1.0), math.log(E + 1) - (0.5 + E / (1 + E)) / 2)
    # cosine: S = [[1, 1/√2], [1/√2, 1]] differs from the dot product
    assert not close(medclip_loss(I2, I2, y, 1.0, similarity="cosine"), 0.6977323982032204, atol=1e-3)


def test_mflag_align_hand():
    # orthogonal: 2 − 0 = 2; 45°: 2 − 2/√2 = 2 − √2; mean over both samples.
    p = torch.tensor([[1.0, 0.0], [3.0, 3.0]], dtype=torch.float64)
    t = torch.tensor([[0.0, 2.0], [1.0, 0.0]], dtype=torch.float64)
    assert close(mflag_align_loss(p, t), (2 + 2 - math.sqrt(2)) / 2)
    assert close(mflag_align_loss(p, p), 0.0)


def test_mflag_orth_identity_like():
    # z = √B · Q with orthonormal columns Q (B × D) ⇒ C = zᵀz/B = I ⇒ loss 0.
    q, _ = torch.linalg.qr(rand(8, 4, seed=30))
    assert close(mflag_orth_loss(math.sqrt(8) * q), 0.0)
    # z = I3 (B = D = 3): C = I/3 ⇒ Σ_i (1/3 − 1)² = 3·4/9 = 4/3, no off-diagonal term.
    assert close(mflag_orth_loss(I3), 4 / 3)
    # normalize=True leaves unit rows unchanged; trace(C) = 1 so the floor (D − 1)²/D = 4/3 is reached.
    assert close(mflag_orth_loss(I3, normalize=True), 4 / 3)
    # B = 2, z rows [1,1], [1,1]: C = [[1,1],[1,1]] ⇒ diag 0 + lam·2 = 2·lam
    z = torch.ones(2, 2, dtype=torch.float64)
    assert close(mflag_orth_loss(z, lam=0.5), 1.0)
    # normalised rows [1/√2, 1/√2]: C = 0.5 everywhere ⇒ 2·0.25 + 0.5·2·0.25 = 0.75
    assert close(mflag_orth_loss(z, lam=0.5, normalize=True), 0.75)


def test_mae_hand_and_norm_pix_unbiased():
    # one masked patch [1, 3], prediction 0: MSE = (1 + 9)/2 = 5; the unmasked patch is ignored.
    pred = torch.zeros(1, 2, 2, dtype=torch.float64)
    target = torch.tensor([[[1.0, 3.0], [2.0, 7.0]]], dtype=torch.float64)
    mask = torch.tensor([[1, 0]])
    assert close(mae_loss(pred, target, mask), 5.0)
    # norm_pix: mean 2, unbiased var ((−1)² + 1²)/(2 − 1) = 2 ⇒ target ±1/√(2 + 1e-6),
    # MSE = 1/(2 + 1e-6) = 0.499999750000125 (the biased variance 1 would give 0.999999000001).
    assert close(mae_loss(pred, target, mask, norm_pix=True), 0.499999750000125)


def test_deit_hand():
    # base logits 0 ⇒ CE = log 2 per sample. dist rows [1,0], [0,0]; teacher rows [0,2], [3,1].
    base = torch.zeros(2, 2, dtype=torch.float64)
    dist = torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    teacher = torch.tensor([[0.0, 2.0], [3.0, 1.0]], dtype=torch.float64)
    y = torch.tensor([0, 1])
    # hard: teacher argmax [1, 0]; CE row 0 = −log(1/(e+1)) = log(1+e), row 1 = log 2.
    # total = 0.5·log 2 + 0.5·(log(1+e) + log 2)/2 = 0.8481758072995147
    assert close(deit_distill_loss(base, dist, teacher, y, kind="hard"), 0.8481758072995147)
    # soft, τ = 1: row 0 p_t = [1, e²]/(1+e²), log p_s = [1 − log(1+e), −log(1+e)]:
    #   KL = 2e²/(1+e²) − log(1+e²) − 1/(1+e²) + log(1+e) = 0.8287249104088976
    # row 1 p_t = [e², 1]/(1+e²), p_s uniform: KL = log 2 + 2e²/(1+e²) − log(1+e²) = 0.3278133254727376
    kl0 = 2 * E**2 / (1 + E**2) - math.log(1 + E**2) - 1 / (1 + E**2) + math.log(1 + E)
    kl1 = math.log(2) + 2 * E**2 / (1 + E**2) - math.log(1 + E**2)
    assert close(kl0, 0.8287249104088976) and close(kl1, 0.3278133254727376)
    assert close(deit_distill_loss(base, dist, teacher, y, kind="soft"), 0.5 * math.log(2) + 0.5 * (kl0 + kl1) / 2)
    # alpha = 1 isolates the distillation term; soft with τ = 2 is τ² times the KL at τ = 2,
    # and DeiT's code (divide by numel = B·C) is ours divided by C = 2.
    soft = deit_distill_loss(base, dist, teacher, y, alpha=1.0, kind="soft", tau=2.0)
    deit_code = F.kl_div(
        F.log_softmax(dist / 2, dim=1), F.log_softmax(teacher / 2, dim=1), reduction="sum", log_target=True
    ) * 4 / dist.numel()
    assert close(soft, 2 * float(deit_code))
    # hard and soft differ
    assert not close(deit_distill_loss(base, dist, teacher, y, kind="hard"), float(deit_distill_loss(base, dist, teacher, y, kind="soft")), 1e-3)


# ----------------------------------------------------------------------------- limits


def test_wsc_zero_similarity_is_twice_clip():
    u, v = rand(N, D, seed=31), rand(N, D, seed=32)
    s = torch.zeros(N, N, dtype=torch.float64)
    assert close(wsc_loss(u, v, s, SCALE), 2 * float(clip_loss(u, v, SCALE)))


def test_wsc_identical_labels_remove_negative():
    # s_02 = s_20 = 1 ⇒ the pairs (image 0, text 2) and (image 2, text 0) appear in no denominator
    u, v = rand(N, D, seed=33), rand(N, D, seed=34)
    s = torch.full((N, N), 0.2, dtype=torch.float64)
    s[0, 2] = s[2, 0] = 1.0
    logits = L._logits(u, v, SCALE)

    def from_logits(lg):
        return L._weighted_nce(lg, s) + L._weighted_nce(lg.T, s)

    base = from_logits(logits)
    for i, j in ((0, 2), (2, 0)):
        changed = logits.clone()
        changed[i, j] += 5.0  # the pair (image i, text j) appears only with weight 1 − s = 0
        assert close(from_logits(changed), float(base))
    changed = logits.clone()
    changed[0, 1] += 5.0  # a weighted pair does change the loss
    assert not close(from_logits(changed), float(base), 1e-3)
    # public API: with every off-diagonal s = 1 no negative is left, so the loss is 0 for any features
    assert float(wsc_loss(u, v, torch.ones(N, N, dtype=torch.float64), SCALE)) == 0.0


def test_unicl_distinct_labels_is_twice_clip():
    u, v = rand(N, D, seed=35), rand(N, D, seed=36)
    y = torch.eye(N, dtype=torch.float64)  # all different ⇒ T = I
    assert close(unicl_loss(u, v, y, SCALE), 2 * float(clip_loss(u, v, SCALE)))


def test_queue_empty_zero_similarity_is_twice_clip():
    u, v = rand(N, D, seed=37), rand(N, D, seed=38)
    s = torch.zeros(N, N, dtype=torch.float64)
    assert close(wsc_queue_loss(u, v, u, v, s, SCALE), 2 * float(clip_loss(u, v, SCALE)))
    # and with a label similarity, an empty queue with keys = online features equals wsc_loss
    s = label_similarity(rand_labels(N, C, seed=39, p=0.5))
    assert close(wsc_queue_loss(u, v, u, v, s, SCALE), float(wsc_loss(u, v, s, SCALE)))


def test_mae_ignores_unmasked_predictions():
    pred, target = rand(2, 4, 3, seed=40), rand(2, 4, 3, seed=41)
    mask = torch.tensor([[1, 0, 1, 0], [0, 1, 1, 1]])
    base = float(mae_loss(pred, target, mask, norm_pix=True))
    changed = pred.clone()
    changed[0, 1] += 10.0
    changed[1, 0] -= 3.0
    assert close(mae_loss(changed, target, mask, norm_pix=True), base)
    changed[0, 0] += 1.0  # a masked patch does change it
    assert not close(mae_loss(changed, target, mask, norm_pix=True), base, 1e-3)


# ----------------------------------------------------------------------------- gradients


def closed_form_grad_sigma_i2t(sigma: list[list[float]], s: list[list[float]]) -> list[list[float]]:
    """∂L_i2t/∂σ: eq 5 (diagonal) and eq 6 (off-diagonal), with the signs of −∇ undone."""
    n = len(sigma)
    g = [[0.0] * n for _ in range(n)]
    for i in range(n):
        neg = sum((1 - s[i][j]) * sigma[i][j] for j in range(n) if j != i)
        den = sigma[i][i] + neg
        g[i][i] = -(1 / n) * neg / (sigma[i][i] * den)  # eq 5
        for j in range(n):
            if j != i:
                g[i][j] = (1 / n) * (1 - s[i][j]) / den  # eq 6
    return g


def wsc_setup(seed: int):
    u, v = rand(N, D, seed=seed), rand(N, D, seed=seed + 1)
    y = rand_labels(N, C, seed=seed + 2, p=0.5)
    y[1] = y[3]  # a weight exactly 0
    s = label_similarity(y)
    s[0, 4] = 0.25  # asymmetric entry
    return u, v, s


def test_wsc_i2t_gradient_matches_eqs_5_6():
    u, v, s = wsc_setup(42)
    z = (F.normalize(u, dim=1) @ F.normalize(v, dim=1).T).requires_grad_(True)
    L._weighted_nce(SCALE * z, s).backward()
    sigma = torch.exp(SCALE * z.detach()).tolist()
    g = closed_form_grad_sigma_i2t(sigma, s.tolist())
    # chain rule: ∂L/∂z_ij = σ_ij · ∂L/∂σ_ij · logit_scale
    want = torch.tensor([[sigma[i][j] * g[i][j] * SCALE for j in range(N)] for i in range(N)], dtype=torch.float64)
    assert torch.allclose(z.grad, want, atol=ATOL, rtol=0)
    assert (z.grad[1, 3] == 0) and (z.grad[3, 1] == 0)


def test_wsc_feature_gradient_matches_eqs_5_6():
    # public API: ∂(L_i2t + L_t2i)/∂z from eqs 5–6, pushed through z = û v̂ᵀ by autograd.
    u, v, s = wsc_setup(50)
    u.requires_grad_(True)
    v.requires_grad_(True)
    wsc_loss(u, v, s, SCALE).backward()
    z = (F.normalize(u, dim=1) @ F.normalize(v, dim=1).T).detach()
    sigma = torch.exp(SCALE * z).tolist()
    g_i2t = closed_form_grad_sigma_i2t(sigma, s.tolist())
    # eq 4 is eq 3 on σᵀ with the same s: ∂L_t2i/∂σ_ij = g(σᵀ, s)_ji
    g_t2i = transpose(closed_form_grad_sigma_i2t(transpose(sigma), s.tolist()))
    gz = torch.tensor(
        [[sigma[i][j] * (g_i2t[i][j] + g_t2i[i][j]) * SCALE for j in range(N)] for i in range(N)],
        dtype=torch.float64,
    )
    u2, v2 = u.detach().clone().requires_grad_(True), v.detach().clone().requires_grad_(True)
    (gz * (F.normalize(u2, dim=1) @ F.normalize(v2, dim=1).T)).sum().backward()
    assert torch.allclose(u.grad, u2.grad, atol=ATOL, rtol=0)
    assert torch.allclose(v.grad, v2.grad, atol=ATOL, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_finite_gradients_with_zero_weights(dtype):
    u, v = rand(N, D, seed=60).to(dtype), rand(N, D, seed=61).to(dtype)
    ku, kv = rand(N + NQ, D, seed=62).to(dtype), rand(N + NQ, D, seed=63).to(dtype)
    scale = torch.tensor(1 / 0.07, dtype=dtype, requires_grad=True)
    s = torch.ones(N, N, dtype=dtype)  # every negative has weight exactly 0
    sq = torch.ones(N, N + NQ, dtype=dtype)
    sq[:, -1] = 0.5
    for x in (u, v, ku, kv):
        x.requires_grad_(True)
    loss = wsc_loss(u, v, s, scale) + wsc_queue_loss(u, v, ku, kv, sq, scale)
    assert loss.dtype == dtype and loss.dim() == 0
    loss.backward()
    for x in (u, v, ku, kv, scale):
        assert torch.isfinite(x.grad).all()
    # all in-batch weights 0 ⇒ every anchor's loss is −l_ii + l_ii = 0
    assert float(wsc_loss(u, v, s, scale).detach()) == 0.0
    # similarity itself may carry a gradient (finite, zero where the weight is masked)
    s_grad = torch.ones(N, N, dtype=dtype, requires_grad=True)
    wsc_loss(u, v, s_grad, scale).backward()
    assert torch.isfinite(s_grad.grad).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_all_losses_scalar_dtype_and_differentiable(dtype):
    g = torch.Generator().manual_seed(70)
    u = torch.randn(N, D, generator=g, dtype=dtype, requires_grad=True)
    v = torch.randn(N, D, generator=g, dtype=dtype, requires_grad=True)
    ku, kv = torch.randn(N + NQ, D, generator=g, dtype=dtype), torch.randn(N + NQ, D, generator=g, dtype=dtype)
    y = (torch.rand(N, C, generator=g) < 0.4).to(dtype)
    scale = torch.tensor(1 / 0.07, dtype=dtype, requires_grad=True)
    s = label_similarity(y)
    sq = label_similarity(y, torch.cat([y, (torch.rand(NQ, C, generator=g) < 0.4).to(dtype)]))
    pred = torch.randn(2, 4, 3, generator=g, dtype=dtype, requires_grad=True)
    outs = [
        clip_loss(u, v, scale),
        wsc_loss(u, v, s, scale),
        wsc_queue_loss(u, v, ku, kv, sq, scale),
        medclip_loss(u, v, y, scale),
        medclip_loss(u, v, y, scale, similarity="cosine"),
        unicl_loss(u, v, y, scale),
        mflag_align_loss(u, v),
        mflag_orth_loss(u),
        mflag_orth_loss(u, normalize=True),
        mae_loss(pred, torch.randn(2, 4, 3, generator=g, dtype=dtype), torch.tensor([[1, 0, 1, 1], [0, 1, 0, 0]]), True),
        deit_distill_loss(u, v, u.detach() * 2, torch.arange(N) % D, kind="soft", tau=2.0),
        deit_distill_loss(u, v, u.detach() * 2, torch.arange(N) % D, kind="hard"),
    ]
    for out in outs:
        assert out.dim() == 0 and out.dtype == dtype and torch.isfinite(out)
        u.grad = v.grad = pred.grad = None
        out.backward(retain_graph=True)
        grads = [t.grad for t in (u, v, pred) if t.grad is not None]
        assert grads and all(torch.isfinite(gr).all() for gr in grads)
    assert s.dtype == dtype


def test_float32_matches_float64():
    u, v = rand(N, D, seed=80), rand(N, D, seed=81)
    s = label_similarity(rand_labels(N, C, seed=82, p=0.5))
    hi = float(wsc_loss(u, v, s, SCALE))
    lo = float(wsc_loss(u.float(), v.float(), s.float(), torch.tensor(SCALE)))
    assert abs(hi - lo) < 1e-5


# ----------------------------------------------------------------------------- validation


def test_shape_mismatches_raise():
    u, v = rand(N, D), rand(N, D)
    with pytest.raises(ValueError, match="text_features"):
        clip_loss(u, rand(N + 1, D), 1.0)
    with pytest.raises(ValueError, match="2-D"):
        clip_loss(u[0], v[0], 1.0)
    with pytest.raises(ValueError, match="logit_scale"):
        clip_loss(u, v, torch.ones(2))
    with pytest.raises(ValueError, match="similarity"):
        wsc_loss(u, v, torch.zeros(N, N + 1), 1.0)
    with pytest.raises(ValueError, match="≤ 1"):
        wsc_loss(u, v, torch.full((N, N), 1.5), 1.0)
    with pytest.raises(ValueError, match="image_keys"):
        wsc_queue_loss(u, v, rand(N - 1, D), rand(N - 1, D), torch.zeros(N, N - 1), 1.0)
    with pytest.raises(ValueError, match="similarity"):
        wsc_queue_loss(u, v, rand(N + NQ, D), rand(N + NQ, D), torch.zeros(N, N), 1.0)
    with pytest.raises(ValueError, match="labels"):
        label_similarity(torch.zeros(3, 4), torch.zeros(3, 5))
    with pytest.raises(ValueError, match="others_index"):
        label_similarity(torch.zeros(3, 4), others_index=4)
    with pytest.raises(ValueError, match="labels"):
        medclip_loss(u, v, torch.zeros(N + 1, C), 1.0)
    with pytest.raises(ValueError, match="similarity"):
        medclip_loss(u, v, torch.zeros(N, C), 1.0, similarity="jaccard")
    with pytest.raises(ValueError, match="labels"):
        unicl_loss(u, v, torch.zeros(N - 1, C), 1.0)
    with pytest.raises(ValueError, match="text_features"):
        mflag_align_loss(u, rand(N, D + 1))
    with pytest.raises(ValueError, match="mask"):
        mae_loss(rand(2, 3, 4), rand(2, 3, 4), torch.ones(2, 4))
    with pytest.raises(ValueError, match="target_patches"):
        mae_loss(rand(2, 3, 4), rand(2, 3, 5), torch.ones(2, 3))
    with pytest.raises(ValueError, match="no patch"):
        mae_loss(rand(2, 3, 4), rand(2, 3, 4), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="dist_logits"):
        deit_distill_loss(u, rand(N, D + 1), u, torch.zeros(N, dtype=torch.long))
    with pytest.raises(ValueError, match="targets"):
        deit_distill_loss(u, v, u, torch.zeros(N + 1, dtype=torch.long))
    with pytest.raises(ValueError, match="kind"):
        deit_distill_loss(u, v, u, torch.zeros(N, dtype=torch.long), kind="medium")


# ----------------------------------------------------------------------------- micro-benchmark


def test_micro_benchmark():
    """Forward + backward time of each loss at N = 128, D = 64, N_Q = 768 on CPU (printed; run
    with -s to see it). Asserts only that every loss is finite."""
    n, d, nq, c, reps = 128, 64, 768, 33, 5
    g = torch.Generator().manual_seed(0)
    u = torch.randn(n, d, generator=g, requires_grad=True)
    v = torch.randn(n, d, generator=g, requires_grad=True)
    ku, kv = torch.randn(n + nq, d, generator=g), torch.randn(n + nq, d, generator=g)
    y = (torch.rand(n, c, generator=g) < 0.1).float()
    yk = torch.cat([y, (torch.rand(nq, c, generator=g) < 0.1).float()])
    scale = torch.tensor(1 / 0.07, requires_grad=True)
    pred = torch.randn(n, 64, 48, generator=g, requires_grad=True)
    target = torch.randn(n, 64, 48, generator=g)
    mask = (torch.rand(n, 64, generator=g) < 0.75).float()
    cases = {
        "label_similarity (N×(N+N_Q))": lambda: label_similarity(y, yk),
        "clip_loss": lambda: clip_loss(u, v, scale),
        "wsc_loss": lambda: wsc_loss(u, v, label_similarity(y), scale),
        "wsc_queue_loss": lambda: wsc_queue_loss(u, v, ku, kv, label_similarity(y, yk), scale),
        "medclip_loss": lambda: medclip_loss(u, v, y, scale),
        "unicl_loss": lambda: unicl_loss(u, v, y, scale),
        "mflag_align_loss": lambda: mflag_align_loss(u, v),
        "mflag_orth_loss": lambda: mflag_orth_loss(u),
        "mae_loss (L=64, P=48)": lambda: mae_loss(pred, target, mask, norm_pix=True),
        "deit_distill_loss (soft)": lambda: deit_distill_loss(u @ v.T, v @ u.T, (u @ v.T).detach(), torch.arange(n), kind="soft"),
    }
    print(f"\nloss micro-benchmark, CPU, {torch.get_num_threads()} thread(s), forward+backward, median of {reps}")
    for name, fn in cases.items():
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            out = fn()
            if out.requires_grad:
                out.backward()
            times.append(time.perf_counter() - t0)
            assert torch.isfinite(out).all()
        print(f"  {name:32s} {sorted(times)[reps // 2] * 1e3:8.3f} ms")
