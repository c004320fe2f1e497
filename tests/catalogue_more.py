"""Wrong solutions of chapter 8's code exercises, each with the diagnosis its checker
must give (merged into tests/test_checks.py's CATALOGUE)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from helpers import exercises as checks


def _win(X, K):
    idx = torch.arange(X.shape[-1] - K + 1)[:, None] + torch.arange(K)[None, :]
    return X[..., idx]


def conv_right(G, X, W, flip=True, full=True):
    K = W.shape[-1]
    Gp = F.pad(G, (K - 1, K - 1)) if full else G
    Wk = W.flip(-1) if flip else W
    dX = torch.einsum("nosk,ock->ncs", _win(Gp, K), Wk)
    return dX, torch.einsum("nctk,not->ock", _win(X, K), G), G.sum(dim=(0, 2))


def conv_valid_3d(G, X, W):
    """Breaks only on the K = L case? No: a 'valid' dX is always too short."""
    return conv_right(G, X, W, full=False)


def ln_right(G, X, gamma, eps, mean_term=True, var_term=True, use_gamma=True, unbiased=False):
    D = X.shape[-1]
    s = torch.sqrt(X.var(dim=-1, unbiased=unbiased, keepdim=True) + eps)
    x_hat = (X - X.mean(dim=-1, keepdim=True)) / s
    g = gamma * G if use_gamma else G
    dX = g
    if mean_term:
        dX = dX - g.mean(dim=-1, keepdim=True)
    if var_term:
        dX = dX - x_hat * (g * x_hat).mean(dim=-1, keepdim=True)
    return dX / s, (G * x_hat).reshape(-1, D).sum(0), G.reshape(-1, D).sum(0)


def ln_2d_only(G, X, gamma, eps):
    """Right for 2-D X only: dgamma sums over dim 0 alone."""
    dX, _, _ = ln_right(G, X, gamma, eps)
    s = torch.sqrt(X.var(dim=-1, unbiased=False, keepdim=True) + eps)
    x_hat = (X - X.mean(dim=-1, keepdim=True)) / s
    return dX, (G * x_hat).sum(0), G.sum(0)


def attn_right(G, Q, K, minus_ppT=True, scale=True):
    d = Q.shape[-1]
    c = 1 / math.sqrt(d) if scale else 1.0
    S = torch.softmax(Q @ K.transpose(-1, -2) / math.sqrt(d), dim=-1)
    dA = S * (G - (G * S).sum(-1, keepdim=True)) if minus_ppT else S * G
    return dA @ K * c, dA.transpose(-1, -2) @ Q * c


def attn_2d_only(G, Q, K):
    """Right for 2-D Q, K only: .T on a 3-D tensor reverses every dim."""
    d = Q.shape[-1]
    S = torch.softmax(Q @ K.T / math.sqrt(d), dim=-1)
    dA = S * (G - (G * S).sum(-1, keepdim=True)) / math.sqrt(d)
    return dA @ K, dA.T @ Q


CATALOGUE_MORE = {
    "ex-more-conv1d-vjp": (
        checks.check_conv1d_vjp,
        conv_right,
        {
            "kernel not flipped": (lambda G, X, W: conv_right(G, X, W, flip=False),
                                   "kernel is not flipped"),
            "valid correlation": (conv_valid_3d, "too short.*full convolution"),
            "db wrong axes": (lambda G, X, W: conv_right(G, X, W)[:2] + (G.sum(dim=(0, 1)),),
                              "db .*wrong axes|db has the wrong shape"),
            "db examples only": (lambda G, X, W: conv_right(G, X, W)[:2] + (G.sum(dim=0),),
                                 "db has the wrong shape"),
            "dW swapped channels": (lambda G, X, W: (conv_right(G, X, W)[0],
                                                     conv_right(G, X, W)[1].transpose(0, 1),
                                                     G.sum(dim=(0, 2))),
                                    "channel axes swapped"),
            "order": (lambda G, X, W: tuple(reversed(conv_right(G, X, W))), "wrong order"),
            "none": (lambda G, X, W: None, "returned None"),
        },
    ),
    "ex-more-layer-norm-vjp": (
        checks.check_layer_norm_vjp,
        ln_right,
        {
            "constants": (lambda G, X, g, e: ln_right(G, X, g, e, mean_term=False, var_term=False),
                          "treated as constants"),
            "no variance term": (lambda G, X, g, e: ln_right(G, X, g, e, var_term=False),
                                 "variance's correction is missing"),
            "no mean term": (lambda G, X, g, e: ln_right(G, X, g, e, mean_term=False),
                             "mean's correction is missing"),
            "gamma forgotten": (lambda G, X, g, e: ln_right(G, X, g, e, use_gamma=False),
                                "gamma is forgotten"),
            "unbiased": (lambda G, X, g, e: ln_right(G, X, g, e, unbiased=True),
                         "unbiased variance"),
            "2-D only": (ln_2d_only, r"leading dims"),
            "dbeta not summed": (lambda G, X, g, e: ln_right(G, X, g, e)[:2] + (G,),
                                 "dbeta"),
        },
    ),
    "ex-more-attention-vjp": (
        checks.check_attention_scores_vjp,
        attn_right,
        {
            "no -p p^T": (lambda G, Q, K: attn_right(G, Q, K, minus_ppT=False), "-p p\\^T"),
            "no 1/sqrt(d)": (lambda G, Q, K: attn_right(G, Q, K, scale=False), "1/sqrt\\(d\\)"),
            "2-D only": (attn_2d_only, "leading dims"),
            "swapped": (lambda G, Q, K: tuple(reversed(attn_right(G, Q, K))),
                        "wrong order|wrong shape"),
            "none": (lambda G, Q, K: None, "returned None"),
        },
    ),
}
