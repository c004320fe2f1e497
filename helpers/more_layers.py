"""More layers and their closed-form VJPs (chapter 8, "your turn").

Each layer is written with plain tensor operations (indexing, ``einsum``, ``softmax``), so
that chapter 8 can compare it with PyTorch's own module, and each VJP is the closed
form the chapter derives, so that tests can compare it with autograd and central
differences. The names are PyTorch's where the book's contract has none
(reference/notation.ipynb):

- 1-D convolution, as ``torch.nn.functional.conv1d`` computes it (a cross-correlation,
  with ``stride`` and zero ``padding``): ``X`` is ``(N, C_in, L_in)``, the kernel
  ``weight`` is ``(C_out, C_in, K)``, out-channels first like ``nn.Linear``'s weight (the
  book's ``W`` is in-first), the bias is ``(C_out,)``, and with ``Xp`` the input padded by
  ``padding`` zeros on both sides, ``Y[n, m, i] = bias[m] + sum_{d, j} weight[m, d, j]
  Xp[n, d, stride * i + j]`` has shape ``(N, C_out, L_out)``,
  ``L_out = (L_in + 2 padding - K) // stride + 1`` (0-based indices, as in code).
- Layer normalization over the last dim, as ``nn.LayerNorm(D)`` computes it: every row
  ``x`` of ``X (*, D)`` becomes ``gamma * (x - mean) / sqrt(var + eps) + beta`` with the
  biased variance.
- Batch normalization in training mode, as ``nn.BatchNorm1d(D)`` normalizes: every
  feature (column) of ``X (N, D)``, or every channel of ``X (N, D, L_in)``, is normalized
  with the mean and biased variance over the examples (and positions).
- Attention ``O = P V`` with ``P = softmax(Q U^T / sqrt(E))`` row by row:
  queries ``Q`` ``(*, I, E)``, keys ``U`` ``(*, S, E)``, values ``V`` ``(*, S, E_v)``; the
  key matrix is ``U`` because ``K`` is the kernel's length.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .shapes import as_tensor, check_ndim, check_shape, fmt_shape

__all__ = [
    "attention",
    "attention_vjp",
    "attention_weights",
    "batch_norm",
    "batch_norm_vjp",
    "conv1d",
    "conv1d_vjp",
    "layer_norm",
    "layer_norm_vjp",
]


# ------------------------------------------------------------------------ convolution

def _check_int(func: str, name: str, value, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{func}: {name} must be an integer >= {least}, got {value!r}")
    return value


def _check_conv(func: str, X: torch.Tensor, weight: torch.Tensor, stride: int,
                padding: int) -> tuple[int, int, int, int, int, int]:
    """``(N, C_in, L_in, C_out, K, L_out)``, or ValueError naming the shapes."""
    check_ndim(func, "X", X, 3, meaning="X is (N, C_in, L_in)")
    check_ndim(func, "weight", weight, 3, meaning="weight is (C_out, C_in, K)")
    _check_int(func, "stride", stride, 1)
    _check_int(func, "padding", padding, 0)
    N, C_in, L_in = X.shape
    C_out, C_w, K = weight.shape
    if C_w != C_in:
        raise ValueError(f"{func}: weight has shape {fmt_shape(weight.shape)}, expected "
                         f"{fmt_shape((C_out, C_in, K))} = (C_out, C_in, K) with "
                         f"C_in = X.shape[1] = {C_in}")
    if K == 0:
        raise ValueError(f"{func}: weight has shape {fmt_shape(weight.shape)}; need K >= 1")
    if K > L_in + 2 * padding:
        raise ValueError(f"{func}: the kernel of shape {fmt_shape(weight.shape)} is longer "
                         f"(K = {K}) than the input X of shape {fmt_shape(X.shape)} padded "
                         f"by {padding} on both sides (L_in + 2 padding = "
                         f"{L_in + 2 * padding}); need K <= L_in + 2 padding")
    L_out = (L_in + 2 * padding - K) // stride + 1
    return N, C_in, L_in, C_out, K, L_out


def _windows(X: torch.Tensor, K: int, stride: int = 1) -> torch.Tensor:
    """``(..., L_out, K)`` with ``out[..., i, j] = X[..., stride * i + j]``, by indexing.

    Indexing rather than ``Tensor.unfold``: ``torch.func.jacrev`` has a batching rule
    for the backward of indexing, not for ``unfold``'s (it falls back to a slow loop
    and warns), and chapter 8 builds the layer's Jacobian with ``jacrev``.
    """
    L_out = (X.shape[-1] - K) // stride + 1
    idx = stride * torch.arange(L_out)[:, None] + torch.arange(K)[None, :]
    return X[..., idx]


def conv1d(X: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None,
           stride: int = 1, padding: int = 0) -> torch.Tensor:
    """1-D cross-correlation with stride and zero padding, as ``F.conv1d`` (chapter 8).

    Parameters
    ----------
    X : torch.Tensor
        Input, shape ``(N, C_in, L_in)``: N examples, C_in channels, length L_in.
    weight : torch.Tensor
        Kernel, shape ``(C_out, C_in, K)`` (out-channels first, as PyTorch stores it),
        with ``K <= L_in + 2 padding``.
    bias : torch.Tensor, optional
        Bias, shape ``(C_out,)``.
    stride : int
        Step between windows, ``>= 1``.
    padding : int
        Zeros added on both sides of the input, ``>= 0``.

    Returns
    -------
    torch.Tensor
        ``Y``, shape ``(N, C_out, L_out)`` with
        ``L_out = (L_in + 2 padding - K) // stride + 1``.
    """
    N, C_in, L_in, C_out, K, L_out = _check_conv("conv1d", X, weight, stride, padding)
    Xp = F.pad(X, (padding, padding))
    Y = torch.einsum("ndij,mdj->nmi", _windows(Xp, K, stride), weight)
    if bias is not None:
        check_shape("conv1d", "bias", bias, (C_out,), "(C_out,) with C_out = weight.shape[0]")
        Y = Y + bias[:, None]
    return Y


def conv1d_vjp(G: torch.Tensor, X: torch.Tensor, weight: torch.Tensor, stride: int = 1,
               padding: int = 0):
    """Closed-form VJP of :func:`conv1d` (chapter 8): a transposed convolution for dX.

    ``dX``: dilate ``G`` (``stride - 1`` zeros between its entries), take its *full*
    convolution with the kernel (``K - 1`` zeros on both sides, then a cross-correlation
    with the kernel flipped along its length and its channel axes swapped), pad the result
    on the right with zeros for the input entries no window reaches, and crop
    ``padding`` entries from each end. This is ``F.conv_transpose1d(G, weight, stride=stride,
    padding=padding, output_padding=...)``. ``dweight`` is the cross-correlation of the
    padded ``X`` with ``G``, summed over the examples; ``dbias`` sums ``G`` over examples
    and positions.

    Parameters
    ----------
    G : torch.Tensor
        Upstream gradient dL/dY, shape ``(N, C_out, L_out)``.
    X : torch.Tensor
        Input, shape ``(N, C_in, L_in)``.
    weight : torch.Tensor
        Kernel, shape ``(C_out, C_in, K)``.
    stride, padding : int
        As in :func:`conv1d`.

    Returns
    -------
    dX : torch.Tensor
        Shape ``(N, C_in, L_in)``.
    dweight : torch.Tensor
        Shape ``(C_out, C_in, K)``.
    dbias : torch.Tensor
        Shape ``(C_out,)``.
    """
    as_tensor("conv1d_vjp", "G", G)
    N, C_in, L_in, C_out, K, L_out = _check_conv("conv1d_vjp", X, weight, stride, padding)
    check_shape("conv1d_vjp", "G", G, (N, C_out, L_out), "(N, C_out, L_out), the shape of Y")
    dilated = G.new_zeros(N, C_out, (L_out - 1) * stride + 1)
    dilated[..., ::stride] = G
    full = F.pad(dilated, (K - 1, K - 1))                            # (N, C_out, L_used + K - 1)
    dXp = torch.einsum("nmlj,mdj->ndl", _windows(full, K), weight.flip(-1))   # (N, C_in, L_used)
    unreached = L_in + 2 * padding - dXp.shape[-1]                   # (L_in + 2 pad - K) % stride
    dXp = F.pad(dXp, (0, unreached))
    dX = dXp[..., padding:padding + L_in]
    dweight = torch.einsum("ndij,nmi->mdj", _windows(F.pad(X, (padding, padding)), K, stride), G)
    dbias = G.sum(dim=(0, 2))
    return dX, dweight, dbias


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
        Input, shape ``(*, D)``; each row is normalized on its own.
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


# ---------------------------------------------------------------------- batch norm

def _check_bn(func: str, X: torch.Tensor, gamma: torch.Tensor) -> tuple[tuple[int, ...], int]:
    """The dims the statistics run over and the feature count D, or ValueError."""
    as_tensor(func, "X", X)
    if X.ndim not in (2, 3):
        raise ValueError(f"{func}: X has shape {fmt_shape(X.shape)} ({X.ndim} dims), expected "
                         f"(N, D) or (N, D, L_in), as nn.BatchNorm1d")
    D = X.shape[1]
    check_shape(func, "gamma", gamma, (D,), "(D,) with D = X.shape[1]")
    dims = (0,) if X.ndim == 2 else (0, 2)
    count = X.numel() // max(D, 1)
    if count < 2:
        raise ValueError(f"{func}: X has shape {fmt_shape(X.shape)}: batch normalization needs "
                         f"more than one value per feature (N = 1 with no positions)")
    return dims, D


def _per_feature(v: torch.Tensor, ndim: int) -> torch.Tensor:
    return v if ndim == 2 else v[:, None]


def batch_norm(X: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
               eps: float = 1e-5) -> torch.Tensor:
    """Batch normalization in training mode, as ``nn.BatchNorm1d(D)`` (chapter 8).

    Every feature is normalized with the mean and the biased variance over the batch
    (over the examples and, for a 3-D input, the positions): the layer normalization of
    :func:`layer_norm` applied to the columns of ``X`` instead of its rows.

    Parameters
    ----------
    X : torch.Tensor
        Input, shape ``(N, D)``, or ``(N, D, L_in)`` (D channels of length L_in).
    gamma, beta : torch.Tensor
        Scale and shift, shape ``(D,)``.
    eps : float
        Added to the (biased) variance before the square root.

    Returns
    -------
    torch.Tensor
        ``Y``, the shape of ``X``.
    """
    dims, D = _check_bn("batch_norm", X, gamma)
    check_shape("batch_norm", "beta", beta, (D,), "(D,) with D = X.shape[1]")
    mean = X.mean(dim=dims, keepdim=True)
    var = ((X - mean) ** 2).mean(dim=dims, keepdim=True)
    return (_per_feature(gamma, X.ndim) * (X - mean) / torch.sqrt(var + eps)
            + _per_feature(beta, X.ndim))


def batch_norm_vjp(G: torch.Tensor, X: torch.Tensor, gamma: torch.Tensor,
                   eps: float = 1e-5):
    """Closed-form VJP of :func:`batch_norm` (chapter 8), the "simplified" one-line form.

    With ``m`` values per feature (``N``, or ``N * L_in``), ``xhat = (x - mean) / sigma``
    and ``sigma = sqrt(var + eps)`` per feature: ``dX = (gG - mean(gG) - xhat *
    mean(gG * xhat)) / sigma`` where ``gG = gamma * G`` and the means run over the batch.
    It is :func:`layer_norm_vjp` on the transpose, written along dim 0 (not through it).

    Parameters
    ----------
    G : torch.Tensor
        Upstream gradient, the shape of ``X``.
    X : torch.Tensor
        Input, shape ``(N, D)`` or ``(N, D, L_in)``.
    gamma : torch.Tensor
        Scale, shape ``(D,)``.
    eps : float
        As in :func:`batch_norm`.

    Returns
    -------
    dX : torch.Tensor
        The shape of ``X``.
    dgamma, dbeta : torch.Tensor
        Shape ``(D,)``, summed over the examples (and positions).
    """
    as_tensor("batch_norm_vjp", "G", G)
    dims, D = _check_bn("batch_norm_vjp", X, gamma)
    check_shape("batch_norm_vjp", "G", G, tuple(X.shape), "X.shape")
    mean = X.mean(dim=dims, keepdim=True)
    var = ((X - mean) ** 2).mean(dim=dims, keepdim=True)
    sigma = torch.sqrt(var + eps)
    xhat = (X - mean) / sigma
    gG = _per_feature(gamma, X.ndim) * G
    dX = (gG - gG.mean(dim=dims, keepdim=True)
          - xhat * (gG * xhat).mean(dim=dims, keepdim=True)) / sigma
    return dX, (G * xhat).sum(dim=dims), G.sum(dim=dims)


# ----------------------------------------------------------------------- attention

def _check_attn(func: str, Q: torch.Tensor, U: torch.Tensor,
                V: torch.Tensor | None = None) -> tuple[int, int, int]:
    """``(I, S, E)``, or ValueError naming the shapes."""
    check_ndim(func, "Q", Q, 2, at_least=True, meaning="Q is (*, I, E)")
    check_ndim(func, "U", U, 2, at_least=True, meaning="U is (*, S, E)")
    *lead, I, E = Q.shape
    check_shape(func, "U", U, tuple(lead) + (None, E),
                "(*, S, E) with the leading dims and E of Q")
    if E == 0:
        raise ValueError(f"{func}: Q has shape {fmt_shape(Q.shape)}; need E >= 1")
    S = U.shape[-2]
    if V is not None:
        check_ndim(func, "V", V, 2, at_least=True, meaning="V is (*, S, E_v)")
        check_shape(func, "V", V, tuple(lead) + (S, None),
                    "(*, S, E_v) with the leading dims of Q and S = U.shape[-2]")
    return I, S, E


def attention_weights(Q: torch.Tensor, U: torch.Tensor) -> torch.Tensor:
    """Scaled dot-product attention weights ``P = softmax(Q U^T / sqrt(E))`` (chapter 8).

    The softmax runs along the last dim (over the keys), so every row of ``P`` sums to 1;
    these are the weights ``F.scaled_dot_product_attention`` applies to the values.

    Parameters
    ----------
    Q : torch.Tensor
        Queries, shape ``(*, I, E)``.
    U : torch.Tensor
        Keys, shape ``(*, S, E)``.

    Returns
    -------
    torch.Tensor
        ``P``, shape ``(*, I, S)``.
    """
    _, _, E = _check_attn("attention_weights", Q, U)
    return torch.softmax(Q @ U.transpose(-1, -2) / math.sqrt(E), dim=-1)


def attention(Q: torch.Tensor, U: torch.Tensor, V: torch.Tensor) -> torch.Tensor:
    """Scaled dot-product attention ``O = softmax(Q U^T / sqrt(E)) V`` (chapter 8).

    Parameters
    ----------
    Q : torch.Tensor
        Queries, shape ``(*, I, E)``.
    U : torch.Tensor
        Keys, shape ``(*, S, E)``.
    V : torch.Tensor
        Values, shape ``(*, S, E_v)``.

    Returns
    -------
    torch.Tensor
        ``O``, shape ``(*, I, E_v)``, as ``F.scaled_dot_product_attention(Q, U, V)``.
    """
    _check_attn("attention", Q, U, V)
    return attention_weights(Q, U) @ V


def attention_vjp(G: torch.Tensor, Q: torch.Tensor, U: torch.Tensor, V: torch.Tensor):
    """Closed-form VJP of :func:`attention` (chapter 8).

    Backward through ``O = P V``: ``dV = P^T G`` and ``dP = G V^T``; through the row
    softmax: ``dZ = P * (dP - rowsum(dP * P))``; through ``Z = Q U^T / sqrt(E)``:
    ``dQ = dZ U / sqrt(E)`` and ``dU = dZ^T Q / sqrt(E)``.

    Parameters
    ----------
    G : torch.Tensor
        Upstream gradient dL/dO, shape ``(*, I, E_v)``.
    Q : torch.Tensor
        Queries, shape ``(*, I, E)``.
    U : torch.Tensor
        Keys, shape ``(*, S, E)``.
    V : torch.Tensor
        Values, shape ``(*, S, E_v)``.

    Returns
    -------
    dQ : torch.Tensor
        Shape ``(*, I, E)``.
    dU : torch.Tensor
        Shape ``(*, S, E)``.
    dV : torch.Tensor
        Shape ``(*, S, E_v)``.
    """
    as_tensor("attention_vjp", "G", G)
    I, S, E = _check_attn("attention_vjp", Q, U, V)
    check_shape("attention_vjp", "G", G, tuple(Q.shape[:-2]) + (I, V.shape[-1]),
                "(*, I, E_v), the shape of O")
    P = torch.softmax(Q @ U.transpose(-1, -2) / math.sqrt(E), dim=-1)
    dV = P.transpose(-1, -2) @ G
    dP = G @ V.transpose(-1, -2)
    dZ = P * (dP - (dP * P).sum(dim=-1, keepdim=True))
    return dZ @ U / math.sqrt(E), dZ.transpose(-1, -2) @ Q / math.sqrt(E), dV
