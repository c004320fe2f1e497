"""Three more layers and their closed-form VJPs (chapter 8, "your turn").

Each layer is written with plain tensor operations (indexing, ``einsum``, ``softmax``), so
that chapter 8 can compare it with PyTorch's own module, and each VJP is the closed
form the chapter derives, so that tests can compare it with autograd and central
differences.

- 1-D convolution, as PyTorch's ``nn.Conv1d`` computes it (a cross-correlation,
  stride 1, no padding): ``X`` is ``(N, C, L)``, the kernel ``W`` is ``(O, C, K)``,
  the bias ``b`` is ``(O,)``, and ``Y[n, o, t] = b[o] + sum_{c,k} W[o, c, k] X[n, c, t + k]``
  has shape ``(N, O, L - K + 1)``.
- Layer normalization over the last dim, as ``nn.LayerNorm(D)`` computes it: every row
  ``x`` of ``X (*, D)`` becomes ``gamma * (x - mean) / sqrt(var + eps) + beta`` with the
  biased variance.
- Attention scores ``S = softmax(Q K^T / sqrt(d))`` row by row: ``Q`` is ``(*, Nq, d)``,
  ``K`` is ``(*, Nk, d)``, ``S`` is ``(*, Nq, Nk)``.
"""

from __future__ import annotations

import math

import torch

from .shapes import as_tensor, check_ndim, check_shape, fmt_shape

__all__ = [
    "attention_scores",
    "attention_scores_vjp",
    "conv1d",
    "conv1d_vjp",
    "layer_norm",
    "layer_norm_vjp",
]


# ------------------------------------------------------------------------ convolution

def _check_conv(func: str, X: torch.Tensor, W: torch.Tensor) -> tuple[int, int, int, int, int]:
    check_ndim(func, "X", X, 3, meaning="X is (N, C, L)")
    check_ndim(func, "W", W, 3, meaning="W is (O, C, K)")
    N, C, L = X.shape
    O, C_w, K = W.shape
    if C_w != C:
        raise ValueError(f"{func}: W has shape {fmt_shape(W.shape)}, expected "
                         f"{fmt_shape((O, C, K))} = (O, C, K) with C = X.shape[1] = {C}")
    if K > L:
        raise ValueError(f"{func}: the kernel W of shape {fmt_shape(W.shape)} is longer "
                         f"(K = {K}) than the input X of shape {fmt_shape(X.shape)} "
                         f"(L = {L}); need K <= L")
    if K == 0:
        raise ValueError(f"{func}: W has shape {fmt_shape(W.shape)}; need K >= 1")
    return N, C, L, O, K


def _windows(X: torch.Tensor, K: int) -> torch.Tensor:
    """``(N, C, L - K + 1, K)``: ``out[n, c, t, k] = X[n, c, t + k]``, by indexing.

    Indexing rather than ``Tensor.unfold``: ``torch.func.jacrev`` has a batching rule
    for the backward of indexing, not for ``unfold``'s (it falls back to a slow loop
    and warns), and chapter 8 builds the layer's Jacobian with ``jacrev``.
    """
    T = X.shape[-1] - K + 1
    idx = torch.arange(T)[:, None] + torch.arange(K)[None, :]
    return X[..., idx]


def conv1d(X: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """1-D cross-correlation, stride 1, no padding, as ``torch.nn.Conv1d`` (chapter 8).

    Parameters
    ----------
    X : torch.Tensor
        Input, shape ``(N, C, L)``: N examples, C channels, length L.
    W : torch.Tensor
        Kernel, shape ``(O, C, K)`` with ``K <= L``.
    b : torch.Tensor, optional
        Bias, shape ``(O,)``.

    Returns
    -------
    torch.Tensor
        ``Y``, shape ``(N, O, L - K + 1)``.
    """
    N, C, L, O, K = _check_conv("conv1d", X, W)
    Y = torch.einsum("nctk,ock->not", _windows(X, K), W)
    if b is not None:
        check_shape("conv1d", "b", b, (O,), "(O,) with O = W.shape[0]")
        Y = Y + b[:, None]
    return Y


def conv1d_vjp(G: torch.Tensor, X: torch.Tensor, W: torch.Tensor):
    """Closed-form VJP of :func:`conv1d` (chapter 8).

    ``dX`` is the *full* convolution of ``G`` with the kernel: ``G`` padded by
    ``K - 1`` zeros on both sides, cross-correlated with the kernel flipped along its
    length (and with its channel axes swapped). ``dW`` is the cross-correlation of
    ``X`` with ``G``, summed over the examples; ``db`` sums ``G`` over examples and
    positions.

    Parameters
    ----------
    G : torch.Tensor
        Upstream gradient dL/dY, shape ``(N, O, L - K + 1)``.
    X : torch.Tensor
        Input, shape ``(N, C, L)``.
    W : torch.Tensor
        Kernel, shape ``(O, C, K)``.

    Returns
    -------
    dX : torch.Tensor
        Shape ``(N, C, L)``.
    dW : torch.Tensor
        Shape ``(O, C, K)``.
    db : torch.Tensor
        Shape ``(O,)``.
    """
    as_tensor("conv1d_vjp", "G", G)
    N, C, L, O, K = _check_conv("conv1d_vjp", X, W)
    T = L - K + 1
    check_shape("conv1d_vjp", "G", G, (N, O, T), "(N, O, L - K + 1), the shape of Y")
    padded = torch.nn.functional.pad(G, (K - 1, K - 1))           # (N, O, L + K - 1)
    g_windows = _windows(padded, K)                                 # (N, O, L, K)
    dX = torch.einsum("nosk,ock->ncs", g_windows, W.flip(-1))
    dW = torch.einsum("nctk,not->ock", _windows(X, K), G)
    db = G.sum(dim=(0, 2))
    return dX, dW, db


# ---------------------------------------------------------------------- layer norm

def _check_ln(func: str, X: torch.Tensor, gamma: torch.Tensor) -> int:
    check_ndim(func, "X", X, 1, at_least=True, meaning="X is (*, D)")
    D = X.shape[-1]
    check_shape(func, "gamma", gamma, (D,), "(D,) with D = X.shape[-1]")
    return D


def layer_norm(X: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
               eps: float = 1e-5) -> torch.Tensor:
    """Layer normalization over the last dim, as ``torch.nn.LayerNorm(D)`` (chapter 8).

    Parameters
    ----------
    X : torch.Tensor
        Input, shape ``(*, D)``; each row is normalised on its own.
    gamma, beta : torch.Tensor
        Scale and shift, shape ``(D,)``.
    eps : float
        Added to the (biased) variance before the square root.

    Returns
    -------
    torch.Tensor
        Shape ``(*, D)``.
    """
    D = _check_ln("layer_norm", X, gamma)
    check_shape("layer_norm", "beta", beta, (D,), "(D,) with D = X.shape[-1]")
    mean = X.mean(dim=-1, keepdim=True)
    var = ((X - mean) ** 2).mean(dim=-1, keepdim=True)
    return gamma * (X - mean) / torch.sqrt(var + eps) + beta


def layer_norm_vjp(G: torch.Tensor, X: torch.Tensor, gamma: torch.Tensor,
                   eps: float = 1e-5):
    """Closed-form VJP of :func:`layer_norm` (chapter 8).

    With ``xhat = (x - mean) / sigma`` and ``sigma = sqrt(var + eps)``, per row:
    ``dX = (gG - mean(gG) - xhat * mean(gG * xhat)) / sigma`` where ``gG = gamma * G``;
    the two subtracted terms are what the mean and the variance couple across the row.

    Parameters
    ----------
    G : torch.Tensor
        Upstream gradient, shape ``(*, D)``.
    X : torch.Tensor
        Input, shape ``(*, D)``.
    gamma : torch.Tensor
        Scale, shape ``(D,)``.
    eps : float
        As in :func:`layer_norm`.

    Returns
    -------
    dX : torch.Tensor
        Shape ``(*, D)``.
    dgamma, dbeta : torch.Tensor
        Shape ``(D,)``, summed over every leading dim.
    """
    as_tensor("layer_norm_vjp", "G", G)
    D = _check_ln("layer_norm_vjp", X, gamma)
    check_shape("layer_norm_vjp", "G", G, tuple(X.shape), "X.shape")
    mean = X.mean(dim=-1, keepdim=True)
    var = ((X - mean) ** 2).mean(dim=-1, keepdim=True)
    sigma = torch.sqrt(var + eps)
    xhat = (X - mean) / sigma
    gG = gamma * G
    dX = (gG - gG.mean(dim=-1, keepdim=True)
          - xhat * (gG * xhat).mean(dim=-1, keepdim=True)) / sigma
    dgamma = (G * xhat).reshape(-1, D).sum(dim=0)
    dbeta = G.reshape(-1, D).sum(dim=0)
    return dX, dgamma, dbeta


# ----------------------------------------------------------------------- attention

def _check_qk(func: str, Q: torch.Tensor, K: torch.Tensor) -> tuple[int, int, int]:
    check_ndim(func, "Q", Q, 2, at_least=True, meaning="Q is (*, Nq, d)")
    check_ndim(func, "K", K, 2, at_least=True, meaning="K is (*, Nk, d)")
    *lead, Nq, d = Q.shape
    check_shape(func, "K", K, tuple(lead) + (None, d),
                "(*, Nk, d) with the leading dims and d of Q")
    if d == 0:
        raise ValueError(f"{func}: Q has shape {fmt_shape(Q.shape)}; need d >= 1")
    return Nq, K.shape[-2], d


def attention_scores(Q: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Scaled dot-product attention weights ``softmax(Q K^T / sqrt(d))`` (chapter 8).

    The softmax runs along the last dim (over the keys), so every row of the result
    sums to 1; these are the weights ``F.scaled_dot_product_attention`` applies to V.

    Parameters
    ----------
    Q : torch.Tensor
        Queries, shape ``(*, Nq, d)``.
    K : torch.Tensor
        Keys, shape ``(*, Nk, d)``.

    Returns
    -------
    torch.Tensor
        ``S``, shape ``(*, Nq, Nk)``.
    """
    _, _, d = _check_qk("attention_scores", Q, K)
    return torch.softmax(Q @ K.transpose(-1, -2) / math.sqrt(d), dim=-1)


def attention_scores_vjp(G: torch.Tensor, Q: torch.Tensor, K: torch.Tensor):
    """Closed-form VJP of :func:`attention_scores` (chapter 8).

    Row by row, the softmax's Jacobian is ``diag(p) - p p^T``; applied to a row ``g`` of
    ``G`` it gives ``p * (g - <g, p>)``. With ``A = (that) / sqrt(d)`` (shape
    ``(*, Nq, Nk)``): ``dQ = A K`` and ``dK = A^T Q``.

    Parameters
    ----------
    G : torch.Tensor
        Upstream gradient dL/dS, shape ``(*, Nq, Nk)``.
    Q, K : torch.Tensor
        As in :func:`attention_scores`.

    Returns
    -------
    dQ : torch.Tensor
        Shape ``(*, Nq, d)``.
    dK : torch.Tensor
        Shape ``(*, Nk, d)``.
    """
    as_tensor("attention_scores_vjp", "G", G)
    Nq, Nk, d = _check_qk("attention_scores_vjp", Q, K)
    check_shape("attention_scores_vjp", "G", G, tuple(Q.shape[:-2]) + (Nq, Nk),
                "(*, Nq, Nk), the shape of S")
    S = torch.softmax(Q @ K.transpose(-1, -2) / math.sqrt(d), dim=-1)
    A = S * (G - (G * S).sum(dim=-1, keepdim=True)) / math.sqrt(d)
    return A @ K, A.transpose(-1, -2) @ Q
