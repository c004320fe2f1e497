"""Chapter 8's code exercises: convolution, layer normalization, attention scores.

The cases are pure data, the judge raises ``AssertionError`` naming the mistake, and
:func:`helpers.exercises.core.register` declares each exercise once (see :mod:`helpers.exercises`).
"""

from __future__ import annotations

import math

import torch

from ..more_layers import attention_scores_vjp, conv1d_vjp, layer_norm_vjp
from .core import (
    N1,
    Exercise,
    Policy,
    case,
    close,
    generator,
    rand,
    register,
    shapes,
    unpack,
)

__all__ = ["check_conv1d_vjp", "check_layer_norm_vjp", "check_attention_scores_vjp"]


def _cases_conv1d(seed: int) -> list:
    gen = generator(seed)
    # (N, C, O, L, K): non-square, with single channels and a kernel as long as the input
    plan = [((2, 3, 4, 7, 3), ""), ((3, 2, 1, 6, 2), "O = 1 (a single output channel)"),
            ((1, 1, 2, 5, 4), "N = 1 and C = 1"),
            ((2, 2, 3, 4, 4), "a kernel as long as the input (K = L, one output position)")]
    out = []
    for (N, C, O, L, K), note in plan:
        X, W, G = rand(gen, N, C, L), rand(gen, O, C, K), rand(gen, N, O, L - K + 1)
        out.append(case({"G": G, "X": X, "W": W}, shapes(G=G, X=X, W=W), note))
    return out


def _judge_conv1d(case, got):
    label = "ex-more-conv1d-vjp"
    G, X, W = (case["inputs"][k] for k in ("G", "X", "W"))
    K = W.shape[-1]
    expected = conv1d_vjp(G, X, W)
    got = unpack(label, got, ("dX", "dW", "db"), expected)
    padded = torch.nn.functional.pad(G, (K - 1, K - 1))
    idx = torch.arange(X.shape[-1])[:, None] + torch.arange(K)[None, :]
    unflipped = torch.einsum("nosk,ock->ncs", padded[..., idx], W)
    valid = G.shape[-1] - K + 1
    variants_dX = [("the kernel is not flipped: dX is the full convolution of G with the "
                    "kernel reversed along its length, W.flip(-1)", unflipped)]
    if valid > 0:  # a 'valid' correlation of G with the kernel, without the zero padding
        vidx = torch.arange(valid)[:, None] + torch.arange(K)[None, :]
        variants_dX.append((
            "dX is too short: a 'valid' correlation of G with the kernel; pad G with "
            "K - 1 zeros on both sides (a full convolution) so that dX has length L",
            torch.einsum("nosk,ock->ncs", G[..., vidx], W.flip(-1))))
    variants_db = [("the bias gradient sums over the wrong axes: sum G over the examples "
                    "and the positions (dims 0 and 2), one number per output channel",
                    G.sum(dim=(0, 1))),
                   ("the bias gradient sums over the examples only: sum over the positions "
                    "(dim 2) too", G.sum(dim=0)),
                   ("the bias gradient sums over the positions only: sum over the examples "
                    "(dim 0) too", G.sum(dim=2))]
    variants_dW = [("dW has its channel axes swapped: it is (O, C, K), out-channels first",
                    expected[1].transpose(0, 1)),
                   ("dW's kernel axis is reversed: correlate X with G, do not flip",
                    expected[1].flip(-1))]
    for what, g, e, v in zip(("dX", "dW", "db"), got, expected,
                             (variants_dX, variants_dW, variants_db)):
        close(label, what, g, e, variants=v, n=G.shape[0])


def _cases_layer_norm(seed: int) -> list:
    gen = generator(seed)
    plan = [((3, 5), ""), ((1, 4), N1), ((2, 3, 4), "leading dims (*, D): X of shape (2, 3, 4)"),
            ((4, 1), "D = 1 (a row that equals its mean)"), ((2, 6), "")]
    out = []
    for shape, note in plan:
        X, G, gamma = 2 * rand(gen, *shape) + 1, rand(gen, *shape), rand(gen, shape[-1])
        out.append(case({"G": G, "X": X, "gamma": gamma, "eps": 1e-5},
                         shapes(G=G, X=X, gamma=gamma) + ", eps = 1e-05", note))
    return out


def _judge_layer_norm(case, got):
    label = "ex-more-layer-norm-vjp"
    G, X, gamma, eps = (case["inputs"][k] for k in ("G", "X", "gamma", "eps"))
    D = X.shape[-1]
    expected = layer_norm_vjp(G, X, gamma, eps)
    got = unpack(label, got, ("dX", "dgamma", "dbeta"), expected)
    s = torch.sqrt(X.var(dim=-1, unbiased=False, keepdim=True) + eps)
    x_hat = (X - X.mean(dim=-1, keepdim=True)) / s
    g = gamma * G
    variants_dX = [
        ("the mean and the variance are treated as constants (gamma * G / s): both "
         "statistics depend on every entry of the row, which adds two correction terms",
         g / s),
        ("the variance's correction is missing: subtract x_hat * mean(gamma * G * x_hat) "
         "as well as the mean of gamma * G", (g - g.mean(dim=-1, keepdim=True)) / s),
        ("the mean's correction is missing: subtract mean(gamma * G) along the row",
         (g - x_hat * (g * x_hat).mean(dim=-1, keepdim=True)) / s),
        ("gamma is forgotten: the upstream gradient of x_hat is gamma * G",
         (G - G.mean(dim=-1, keepdim=True) - x_hat * (G * x_hat).mean(dim=-1, keepdim=True)) / s),
        ("the row statistics use the unbiased variance (divided by D - 1); LayerNorm "
         "divides by D",
         _ln_dx_unbiased(G, X, gamma, eps)),
    ]
    variants_dgamma = [("dgamma is the sum of G alone: it is the sum of G * x_hat over "
                        "every leading dim", G.reshape(-1, D).sum(dim=0)),
                       ("dgamma is not summed over the examples: sum G * x_hat over every "
                        "leading dim, shape (D,)", G * x_hat)]
    variants_dbeta = [("dbeta is not summed over the examples: sum G over every leading dim, "
                       "shape (D,)", G)]
    for what, gg, e, v in zip(("dX", "dgamma", "dbeta"), got, expected,
                              (variants_dX, variants_dgamma, variants_dbeta)):
        close(label, what, gg, e, variants=v)


def _ln_dx_unbiased(G, X, gamma, eps):
    """The right formula, but with the unbiased variance (divided by D - 1)."""
    if X.shape[-1] < 2:
        return torch.full_like(X, float("nan"))
    s = torch.sqrt(X.var(dim=-1, unbiased=True, keepdim=True) + eps)
    x_hat = (X - X.mean(dim=-1, keepdim=True)) / s
    g = gamma * G
    return (g - g.mean(dim=-1, keepdim=True) - x_hat * (g * x_hat).mean(dim=-1, keepdim=True)) / s


def _cases_attention(seed: int) -> list:
    gen = generator(seed)
    plan = [((), 3, 4, 2, ""), ((), 1, 5, 3, "a single query (Nq = 1)"),
            ((2,), 4, 3, 5, "leading dims: Q of shape (2, 4, 5)"), ((), 5, 2, 4, "")]
    out = []
    for lead, Nq, Nk, d, note in plan:
        Q, K, G = rand(gen, *lead, Nq, d), rand(gen, *lead, Nk, d), rand(gen, *lead, Nq, Nk)
        out.append(case({"G": G, "Q": Q, "K": K}, shapes(G=G, Q=Q, K=K), note))
    return out


def _judge_attention(case, got):
    label = "ex-more-attention-vjp"
    G, Q, K = (case["inputs"][k] for k in ("G", "Q", "K"))
    d = Q.shape[-1]
    expected = attention_scores_vjp(G, Q, K)
    got = unpack(label, got, ("dQ", "dK"), expected)
    S = torch.softmax(Q @ K.transpose(-1, -2) / math.sqrt(d), dim=-1)
    diag_only = S * G / math.sqrt(d)
    dA = S * (G - (G * S).sum(dim=-1, keepdim=True)) / math.sqrt(d)
    forgot = ("the softmax's -p p^T term is forgotten (S * G is the Jacobian of exp, not of "
              "the softmax): subtract each row's sum of G * S before multiplying by S")
    no_scale = "the 1/sqrt(d) of the scores is missing (it scales both gradients)"
    variants = [
        [(forgot, diag_only @ K), (no_scale, math.sqrt(d) * expected[0])],
        [(forgot, diag_only.transpose(-1, -2) @ Q), (no_scale, math.sqrt(d) * expected[1])],
    ]
    if Q.shape == K.shape:  # square cases only: the wrong factor has the right shape
        variants[0].append(("dQ multiplies by Q instead of K: dQ = (dL/dA) @ K", dA @ Q))
        variants[1].append(("dK is missing a transpose: dK = (dL/dA)^T @ Q", dA @ Q))
    for what, g, e, v in zip(("dQ", "dK"), got, expected, variants):
        close(label, what, g, e, variants=v)


check_conv1d_vjp = register(
    Exercise("ex-more-conv1d-vjp", "my_conv1d_vjp", "08_more_layers", "check_conv1d_vjp",
             ("G", "X", "W"), _cases_conv1d, _judge_conv1d,
             "4 random shapes (N, C, O, L, K), with N = 1, C = 1, O = 1 and K = L", seed=8,
             policy=Policy(), reference="conv1d_vjp"),
    doc="""\
Check ``fn(G, X, W) -> (dX, dW, db)`` against :func:`helpers.more_layers.conv1d_vjp` (chapter 8).

``X`` is ``(N, C, L)``, ``W`` is ``(O, C, K)``; cases include N = 1, C = 1, O = 1 and a
kernel as long as the input. Recognises: the kernel not flipped, a 'valid' instead of a
full convolution for dX, dW with swapped channel axes or a reversed kernel axis, db
summed over the wrong axes, results in the wrong order, wrong shape, ``None``, NaN/inf,
float32, an exception.
""")


check_layer_norm_vjp = register(
    Exercise("ex-more-layer-norm-vjp", "my_layer_norm_vjp", "08_more_layers",
             "check_layer_norm_vjp", ("G", "X", "gamma", "eps"), _cases_layer_norm,
             _judge_layer_norm, "5 random shapes, with N = 1, D = 1 and leading dims", seed=9,
             policy=Policy(forbidden=("layer_norm", "LayerNorm", "batch_norm", "group_norm"),
                           text="your function may not call the book's helpers, "
                                "layer_norm / nn.LayerNorm, torch.autograd, torch.func or "
                                ".backward()"),
             reference="layer_norm_vjp"),
    doc="""\
Check ``fn(G, X, gamma, eps) -> (dX, dgamma, dbeta)`` against
:func:`helpers.more_layers.layer_norm_vjp` (chapter 8).

Cases include N = 1, D = 1 and leading dims. Recognises: the statistics treated as
constants, a missing mean or variance correction, gamma forgotten, the unbiased
variance, dgamma without x_hat, dgamma or dbeta not summed over the examples, results
in the wrong order, wrong shape, ``None``, NaN/inf, float32, an exception.
""")


check_attention_scores_vjp = register(
    Exercise("ex-more-attention-vjp", "my_attention_scores_vjp", "08_more_layers",
             "check_attention_scores_vjp", ("G", "Q", "K"), _cases_attention, _judge_attention,
             "4 random shapes, with a single query and leading dims", seed=10,
             policy=Policy(forbidden=("scaled_dot_product_attention", "MultiheadAttention"),
                           text="your function may not call the book's helpers, "
                                "scaled_dot_product_attention, torch.autograd, torch.func or "
                                ".backward()"),
             reference="attention_scores_vjp"),
    doc="""\
Check ``fn(G, Q, K) -> (dQ, dK)`` against :func:`helpers.more_layers.attention_scores_vjp`
(chapter 8).

Cases include a single query and leading dims. Recognises: the softmax's ``-p p^T``
term forgotten, a missing ``1/sqrt(d)``, dQ from Q instead of K, a missing transpose
in dK, results in the wrong order, wrong shape, ``None``, NaN/inf, float32, an
exception.
""")
