"""Wrong solutions of chapter 8's code exercises, each with the diagnosis its checker
must give (merged into tests/test_checks.py's CATALOGUE), the helper each exercise
re-implements (HELPERS_MORE) and, for every requirement an exercise states, a wrong
solution violating only that one (REQUIREMENTS_MORE, merged into REQUIREMENTS)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from helpers import exercises as checks
from helpers import more_layers


def _win(X, K, stride=1):
    L_out = (X.shape[-1] - K) // stride + 1
    idx = stride * torch.arange(L_out)[:, None] + torch.arange(K)[None, :]
    return X[..., idx]


# --- convolution -----------------------------------------------------------------------

def conv_right(G, X, weight, stride, padding, flip=True, full=True, dilate=True,
               crop=True, right_pad=True, pad_X=True):
    """The right VJP; each flag off is one classic mistake."""
    N, C_in, L_in = X.shape
    C_out, _, K = weight.shape
    L_pad = L_in + 2 * padding
    if dilate:
        g = G.new_zeros(N, C_out, (G.shape[-1] - 1) * stride + 1)
        g[..., ::stride] = G
    else:
        g = G
    g = F.pad(g, (K - 1, K - 1)) if full else g
    kernel = weight.flip(-1) if flip else weight
    dXp = torch.einsum("nmlj,mdj->ndl", _win(g, K), kernel)
    if right_pad:
        dXp = F.pad(dXp, (0, max(L_pad - dXp.shape[-1], 0)))
    dX = dXp[..., padding:padding + L_in] if crop else dXp
    Xp = F.pad(X, (padding, padding)) if pad_X else X
    dweight = torch.einsum("ndij,nmi->mdj", _win(Xp, K, stride), G)
    return dX, dweight, G.sum(dim=(0, 2))


def conv_crop_one_end(G, X, weight, stride, padding):
    """Drops all 2 padding entries at the right end instead of padding at each end."""
    dXp, dweight, dbias = conv_right(G, X, weight, stride, padding, crop=False)
    return dXp[..., :X.shape[-1]], dweight, dbias


def conv_squeeze_bias(G, X, weight, stride, padding):
    """Right unless L_out = 1: G.squeeze(-1) then drops the position axis."""
    dX, dweight, _ = conv_right(G, X, weight, stride, padding)
    return dX, dweight, G.squeeze(-1).sum(dim=(0, 2))


def conv_n1(G, X, weight, stride, padding):
    """Right unless N = 1: the squeeze drops the example axis."""
    dX, dweight, dbias = conv_right(G, X, weight, stride, padding)
    return dX.squeeze(0), dweight, dbias


# --- normalizations --------------------------------------------------------------------

def norm_right(G, X, gamma, eps, dims, mean_term=True, var_term=True, use_gamma=True,
               unbiased=False, eps_where="inside", eps_value=None):
    gamma_b = gamma if (X.ndim == 2 or dims == (-1,)) else gamma[:, None]
    count = math.prod(X.shape[d] for d in dims)
    e = eps if eps_value is None else eps_value
    mean = X.mean(dim=dims, keepdim=True)
    var = ((X - mean) ** 2).sum(dim=dims, keepdim=True) / (count - 1 if unbiased else count)
    sigma = {"inside": torch.sqrt(var + e), "outside": torch.sqrt(var) + e,
             "none": torch.sqrt(var)}[eps_where]
    x_hat = (X - mean) / sigma
    g = gamma_b * G if use_gamma else G
    dX = g
    if mean_term:
        dX = dX - g.mean(dim=dims, keepdim=True)
    if var_term:
        dX = dX - x_hat * (g * x_hat).sum(dim=dims, keepdim=True) / (count - 1 if unbiased else count)
    sum_dims = tuple(range(X.ndim - 1)) if dims == (-1,) else dims
    return dX / sigma, (G * x_hat).sum(dim=sum_dims), G.sum(dim=sum_dims)


def ln_right(G, X, gamma, eps, **kw):
    return norm_right(G, X, gamma, eps, (-1,), **kw)


def ln_2d_only(G, X, gamma, eps):
    """Right for 2-D X only: dgamma sums over dim 0 alone."""
    dX, _, _ = ln_right(G, X, gamma, eps)
    sigma = torch.sqrt(X.var(dim=-1, unbiased=False, keepdim=True) + eps)
    x_hat = (X - X.mean(dim=-1, keepdim=True)) / sigma
    return dX, (G * x_hat).sum(0), G.sum(0)


def bn_right(G, X, gamma, eps, **kw):
    return norm_right(G, X, gamma, eps, (0,) if X.ndim == 2 else (0, 2), **kw)


def bn_2d_only(G, X, gamma, eps):
    """Right for (N, D) only: the statistics always run over dim 0 alone."""
    if X.ndim == 2:
        return bn_right(G, X, gamma, eps)
    dX, dgamma, dbeta = norm_right(G, X, gamma, eps, (0,))
    return dX, dgamma, dbeta


def bn_dgamma_not_summed(G, X, gamma, eps):
    dX, _, dbeta = bn_right(G, X, gamma, eps)
    dims = (0,) if X.ndim == 2 else (0, 2)
    mean = X.mean(dim=dims, keepdim=True)
    x_hat = (X - mean) / torch.sqrt(((X - mean) ** 2).mean(dim=dims, keepdim=True) + eps)
    return dX, G * x_hat, dbeta


def bn_as_layer_norm(G, X, gamma, eps):
    """The statistics over the features (dim 1): layer normalization, not batch."""
    gamma_b = gamma if X.ndim == 2 else gamma[:, None]
    mean = X.mean(dim=1, keepdim=True)
    sigma = torch.sqrt(((X - mean) ** 2).mean(dim=1, keepdim=True) + eps)
    x_hat = (X - mean) / sigma
    g = gamma_b * G
    dX = (g - g.mean(dim=1, keepdim=True) - x_hat * (g * x_hat).mean(dim=1, keepdim=True)) / sigma
    _, dgamma, dbeta = bn_right(G, X, gamma, eps)
    return dX, dgamma, dbeta


# --- attention -------------------------------------------------------------------------

def attn_right(G, Q, U, V, minus_ppT=True, scale=True, dQ_from_Q=False, dU_transpose=True,
               dV_transpose=True):
    E = Q.shape[-1]
    c = 1 / math.sqrt(E)
    P = torch.softmax(Q @ U.transpose(-1, -2) * c, dim=-1)
    dP = G @ V.transpose(-1, -2)
    dZ = P * (dP - (dP * P).sum(-1, keepdim=True)) if minus_ppT else P * dP
    s = c if scale else 1.0
    dQ = dZ @ (Q if dQ_from_Q else U) * s
    dU = (dZ.transpose(-1, -2) if dU_transpose else dZ) @ Q * s
    dV = (P.transpose(-1, -2) if dV_transpose else P) @ G
    return dQ, dU, dV


def attn_2d_only(G, Q, U, V):
    """Right for 2-D Q, U, V only: .T on a 3-D tensor reverses every dim."""
    E = Q.shape[-1]
    P = torch.softmax(Q @ U.T / math.sqrt(E), dim=-1)
    dP = G @ V.T
    dZ = P * (dP - (dP * P).sum(-1, keepdim=True)) / math.sqrt(E)
    return dZ @ U, dZ.T @ Q, P.T @ G


def attn_squeeze(G, Q, U, V):
    """Right unless I = 1: the squeeze drops the query axis of dQ."""
    dQ, dU, dV = attn_right(G, Q, U, V)
    return dQ.squeeze(-2), dU, dV


CATALOGUE_MORE = {
    "ex-more-conv1d-vjp": (
        checks.check_conv1d_vjp,
        conv_right,
        {
            "kernel not flipped": (lambda *a: conv_right(*a, flip=False), "kernel is not flipped"),
            "valid correlation": (lambda *a: conv_right(*a, full=False), "valid.*too short.*full convolution"),
            "not cropped": (lambda *a: conv_right(*a, crop=False), "not cropped"),
            "cropped at one end": (conv_crop_one_end, "cropped from one end"),
            "no right pad": (lambda *a: conv_right(*a, right_pad=False), "in no window"),
            "not dilated": (lambda *a: conv_right(*a, dilate=False), "not dilated|wrong shape"),
            "dweight from unpadded X": (lambda *a: conv_right(*a, pad_X=False),
                                        "unpadded X|wrong shape|raised"),
            "dbias wrong axes": (lambda G, X, w, s, p: conv_right(G, X, w, s, p)[:2] + (G.sum(dim=(0, 1)),),
                                 "dbias .*wrong axes|dbias has the wrong shape"),
            "dbias examples only": (lambda G, X, w, s, p: conv_right(G, X, w, s, p)[:2] + (G.sum(dim=0),),
                                    "dbias has the wrong shape"),
            "dweight swapped channels": (lambda G, X, w, s, p: (conv_right(G, X, w, s, p)[0],
                                                                conv_right(G, X, w, s, p)[1].transpose(0, 1),
                                                                G.sum(dim=(0, 2))),
                                         "channel axes swapped"),
            "dweight reversed": (lambda G, X, w, s, p: (conv_right(G, X, w, s, p)[0],
                                                        conv_right(G, X, w, s, p)[1].flip(-1),
                                                        G.sum(dim=(0, 2))),
                                 "kernel axis is reversed"),
            "order": (lambda *a: tuple(reversed(conv_right(*a))), "wrong order"),
            "none": (lambda *a: None, "returned None"),
        },
    ),
    "ex-more-layer-norm-vjp": (
        checks.check_layer_norm_vjp,
        ln_right,
        {
            "constants": (lambda *a: ln_right(*a, mean_term=False, var_term=False),
                          "treated as constants"),
            "no variance term": (lambda *a: ln_right(*a, var_term=False),
                                 "variance's correction is missing"),
            "no mean term": (lambda *a: ln_right(*a, mean_term=False),
                             "mean's correction is missing"),
            "gamma forgotten": (lambda *a: ln_right(*a, use_gamma=False), "gamma is forgotten"),
            "unbiased": (lambda *a: ln_right(*a, unbiased=True), "unbiased variance"),
            "eps outside the sqrt": (lambda *a: ln_right(*a, eps_where="outside"),
                                     "outside the square root"),
            "eps left out": (lambda *a: ln_right(*a, eps_where="none"), "eps is left out"),
            "eps hard-coded": (lambda *a: ln_right(*a, eps_value=1e-5), "hard-coded"),
            "2-D only": (ln_2d_only, r"leading dims"),
            "dbeta not summed": (lambda G, X, g, e: ln_right(G, X, g, e)[:2] + (G,), "dbeta"),
        },
    ),
    "ex-more-batch-norm-vjp": (
        checks.check_batch_norm_vjp,
        bn_right,
        {
            "constants": (lambda *a: bn_right(*a, mean_term=False, var_term=False),
                          "treated as constants"),
            "no variance term": (lambda *a: bn_right(*a, var_term=False),
                                 "variance's correction is missing"),
            "no mean term": (lambda *a: bn_right(*a, mean_term=False),
                             "mean's correction is missing"),
            "gamma forgotten": (lambda *a: bn_right(*a, use_gamma=False), "gamma is forgotten"),
            "unbiased (Bessel)": (lambda *a: bn_right(*a, unbiased=True), "unbiased"),
            "eps outside the sqrt": (lambda *a: bn_right(*a, eps_where="outside"),
                                     "outside the square root"),
            "eps left out": (lambda *a: bn_right(*a, eps_where="none"), "eps is left out"),
            "eps hard-coded": (lambda *a: bn_right(*a, eps_value=1e-5), "hard-coded"),
            "layer norm instead": (bn_as_layer_norm, "that is layer normalization"),
            "(N, D) only": (bn_2d_only, "examples only|over the examples and the positions"),
            "dgamma not summed": (bn_dgamma_not_summed, "dgamma is not summed"),
            "dbeta not summed": (lambda G, X, g, e: bn_right(G, X, g, e)[:2] + (G,), "dbeta"),
            "order": (lambda *a: tuple(reversed(bn_right(*a))), "wrong order"),
        },
    ),
    "ex-more-attention-vjp": (
        checks.check_attention_vjp,
        attn_right,
        {
            "no -p p^T": (lambda *a: attn_right(*a, minus_ppT=False), "-p p\\^T"),
            "no 1/sqrt(E)": (lambda *a: attn_right(*a, scale=False), "1/sqrt\\(E\\)"),
            "dQ from Q": (lambda *a: attn_right(*a, dQ_from_Q=True),
                          "dQ multiplies by Q|dQ has the wrong shape"),
            "dU without transpose": (lambda *a: attn_right(*a, dU_transpose=False),
                                     "dU is missing a transpose|dU has the wrong shape|raised"),
            "dV without transpose": (lambda *a: attn_right(*a, dV_transpose=False),
                                     "dV is missing a transpose|dV has the wrong shape|raised"),
            "2-D only": (attn_2d_only, "leading dims"),
            "swapped": (lambda *a: tuple(reversed(attn_right(*a))), "wrong order|wrong shape"),
            "none": (lambda *a: None, "returned None"),
        },
    ),
}

HELPERS_MORE = {
    "ex-more-conv1d-vjp": more_layers.conv1d_vjp,
    "ex-more-layer-norm-vjp": more_layers.layer_norm_vjp,
    "ex-more-batch-norm-vjp": more_layers.batch_norm_vjp,
    "ex-more-attention-vjp": more_layers.attention_vjp,
}

REQUIREMENTS_MORE = {  # name: (checker, wrong solution violating only it, regex of the diagnosis)
    "conv: N = 1": (checks.check_conv1d_vjp, conv_n1, r"N = 1"),
    "conv: padding": (checks.check_conv1d_vjp, lambda *a: conv_right(*a, crop=False),
                      r"padding 2 \(zeros on both sides"),
    "conv: stride": (checks.check_conv1d_vjp, lambda *a: conv_right(*a, dilate=False),
                     r"stride 2, with input entries in no window"),
    "conv: entries in no window": (checks.check_conv1d_vjp,
                                   lambda *a: conv_right(*a, right_pad=False),
                                   r"input entries in no window"),
    "conv: K = L_in + 2 padding": (checks.check_conv1d_vjp, conv_squeeze_bias,
                                   r"a kernel as long as the padded input"),
    "layer norm: leading dims": (checks.check_layer_norm_vjp, ln_2d_only, r"leading dims"),
    "layer norm: eps passed in": (checks.check_layer_norm_vjp,
                                  lambda *a: ln_right(*a, eps_value=1e-5), r"eps = 1e-3 passed"),
    "layer norm: tiny variance": (checks.check_layer_norm_vjp,
                                  lambda *a: ln_right(*a, eps_where="none"), r"tiny variance"),
    "batch norm: (N, D, L_in)": (checks.check_batch_norm_vjp, bn_2d_only,
                                 r"X of shape \(N, D, L_in\)"),
    "batch norm: eps passed in": (checks.check_batch_norm_vjp,
                                  lambda *a: bn_right(*a, eps_value=1e-5), r"eps = 1e-3 passed"),
    "batch norm: tiny variance": (checks.check_batch_norm_vjp,
                                  lambda *a: bn_right(*a, eps_where="none"), r"tiny variance"),
    "attention: a single query": (checks.check_attention_vjp, attn_squeeze, r"a single query"),
    "attention: leading dims": (checks.check_attention_vjp, attn_2d_only, r"leading dims"),
}
