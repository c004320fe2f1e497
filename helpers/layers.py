"""Layers and their closed-form vector-Jacobian products (VJPs).

The book's convention (chapter 5): ``X`` has shape ``(*, D)`` (one example per row,
any number of leading dims), ``W`` is ``(D, M)``, ``b`` is ``(M,)`` and
``Y = X @ W + b`` has shape ``(*, M)``. ``G = dL/dY`` has the shape of ``Y``, and
every gradient has the shape of its variable.

PyTorch's ``torch.nn.Linear`` stores ``weight`` as ``(M, D)`` (out x in) and computes
``Y = X @ weight.T + bias``; :func:`nn_linear_vjp` speaks that convention.
Chapter 7 (the MLP) adds ReLU and softmax cross-entropy.
"""

from __future__ import annotations

import torch

from .shapes import as_tensor, check_ndim, check_shape, fmt_shape

__all__ = [
    "linear",
    "linear_vjp",
    "nn_linear_vjp",
    "relu",
    "relu_vjp",
    "softmax_cross_entropy",
    "softmax_cross_entropy_vjp",
]


def linear(X: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None = None) -> torch.Tensor:
    """Linear layer ``Y = X @ W + b`` (chapter 5).

    Parameters
    ----------
    X : torch.Tensor
        Inputs, shape ``(*, D)``.
    W : torch.Tensor
        Weights, shape ``(D, M)``.
    b : torch.Tensor, optional
        Bias, shape ``(M,)``; omitted means no bias.

    Returns
    -------
    torch.Tensor
        ``Y``, shape ``(*, M)``.
    """
    check_ndim("linear", "X", X, 1, at_least=True, meaning="X is (*, D)")
    check_ndim("linear", "W", W, 2, meaning="W is (D, M)")
    D, M = W.shape
    check_shape("linear", "X", X, tuple(X.shape[:-1]) + (D,), "(*, D) with D = W.shape[0]")
    Y = X @ W
    if b is not None:
        check_shape("linear", "b", b, (M,), "(M,) with M = W.shape[1]")
        Y = Y + b
    return Y


def _check_G_X(func: str, G: torch.Tensor, X: torch.Tensor, M: int, D: int, wname: str) -> None:
    check_ndim(func, "X", X, 1, at_least=True, meaning="X is (*, D)")
    check_shape(func, "X", X, tuple(X.shape[:-1]) + (D,), f"(*, D) with D from {wname}")
    check_shape(func, "G", G, tuple(X.shape[:-1]) + (M,), "X.shape[:-1] + (M,), the shape of Y")


def linear_vjp(G: torch.Tensor, X: torch.Tensor, W: torch.Tensor):
    """Closed-form gradients of the linear layer ``Y = X @ W + b`` (chapter 5).

    ``dX = G @ W.T``, ``dW = X.T @ G`` and ``db = sum of G over the examples``,
    where for leading dims ``*`` the sums run over every leading dim.

    Parameters
    ----------
    G : torch.Tensor
        Upstream gradient dL/dY, shape ``(*, M)``.
    X : torch.Tensor
        Layer input, shape ``(*, D)``.
    W : torch.Tensor
        Weights, shape ``(D, M)``.

    Returns
    -------
    dX : torch.Tensor
        dL/dX, shape ``(*, D)``.
    dW : torch.Tensor
        dL/dW, shape ``(D, M)``.
    db : torch.Tensor
        dL/db, shape ``(M,)``.
    """
    as_tensor("linear_vjp", "G", G)
    check_ndim("linear_vjp", "W", W, 2, meaning="W is (D, M)")
    D, M = W.shape
    _check_G_X("linear_vjp", G, X, M, D, "W.shape[0]")
    G2 = G.reshape(-1, M)
    X2 = X.reshape(-1, D)
    dX = G @ W.T
    dW = X2.T @ G2
    db = G2.sum(dim=0)
    return dX, dW, db


def nn_linear_vjp(G: torch.Tensor, X: torch.Tensor, weight: torch.Tensor):
    """Gradients of ``torch.nn.Linear``: ``Y = X @ weight.T + bias`` (chapter 5).

    Parameters
    ----------
    G : torch.Tensor
        Upstream gradient dL/dY, shape ``(*, M)``.
    X : torch.Tensor
        Layer input, shape ``(*, D)``.
    weight : torch.Tensor
        ``nn.Linear.weight``, shape ``(M, D)`` (out_features x in_features).

    Returns
    -------
    dX : torch.Tensor
        Shape ``(*, D)``: ``G @ weight``.
    dweight : torch.Tensor
        Shape ``(M, D)``: ``G.T @ X`` summed over leading dims (the transpose of
        :func:`linear_vjp`'s ``dW``).
    dbias : torch.Tensor
        Shape ``(M,)``.
    """
    as_tensor("nn_linear_vjp", "G", G)
    check_ndim("nn_linear_vjp", "weight", weight, 2, meaning="weight is (M, D)")
    M, D = weight.shape
    _check_G_X("nn_linear_vjp", G, X, M, D, "weight.shape[1]")
    G2 = G.reshape(-1, M)
    X2 = X.reshape(-1, D)
    return G @ weight, G2.T @ X2, G2.sum(dim=0)


def relu(Z: torch.Tensor) -> torch.Tensor:
    """Element-wise ``max(Z, 0)``, any shape (chapter 3, chapter 7).

    Uses :func:`torch.relu`, whose autograd derivative at ``Z == 0`` is 0, like
    :func:`relu_vjp` (``torch.clamp(Z, min=0)`` would give 1 there).
    """
    as_tensor("relu", "Z", Z)
    return torch.relu(Z)


def relu_vjp(G: torch.Tensor, Z: torch.Tensor) -> torch.Tensor:
    """VJP of ReLU: ``G * (Z > 0)``, the diagonal Jacobian applied as a mask.

    Parameters
    ----------
    G : torch.Tensor
        Upstream gradient dL/dA where ``A = relu(Z)``, shape of ``Z``.
    Z : torch.Tensor
        ReLU's input (pre-activation), any shape.

    Returns
    -------
    torch.Tensor
        dL/dZ, shape of ``Z``. At ``Z == 0`` the derivative is taken as 0, as PyTorch does.
    """
    as_tensor("relu_vjp", "G", G)
    as_tensor("relu_vjp", "Z", Z)
    check_shape("relu_vjp", "G", G, tuple(Z.shape), "Z.shape")
    # where, not G * mask: an inf or nan in G where Z <= 0 gives 0, as autograd does
    return torch.where(Z > 0, G, torch.zeros((), dtype=G.dtype, device=G.device))


def _check_logits_labels(func: str, logits: torch.Tensor, labels: torch.Tensor) -> None:
    check_ndim(func, "logits", logits, 2, meaning="logits are (N, C)")
    N, C = logits.shape
    check_shape(func, "labels", labels, (N,), "(N,) class indices, N = logits.shape[0]")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"{func}: labels must be integer class indices, got {labels.dtype}")
    if N == 0:
        raise ValueError(f"{func}: logits has shape {fmt_shape(logits.shape)}; need N >= 1")
    if labels.numel() and (labels.min() < 0 or labels.max() >= C):
        raise ValueError(
            f"{func}: labels must lie in [0, {C}) for logits of shape {fmt_shape(logits.shape)}, "
            f"got values from {int(labels.min())} to {int(labels.max())}"
        )


def softmax_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean softmax cross-entropy loss (chapter 2, chapter 7), numerically stable.

    ``L = -(1/N) sum_n log softmax(logits[n])[labels[n]]``, computed through
    ``logsumexp`` so that logits of +-1000 give a finite loss.

    Parameters
    ----------
    logits : torch.Tensor
        Shape ``(N, C)``.
    labels : torch.Tensor
        Integer class indices, shape ``(N,)``, values in ``[0, C)``.

    Returns
    -------
    torch.Tensor
        Scalar (shape ``()``).
    """
    _check_logits_labels("softmax_cross_entropy", logits, labels)
    log_norm = torch.logsumexp(logits, dim=1)
    picked = logits.gather(1, labels.long().unsqueeze(1)).squeeze(1)
    return (log_norm - picked).mean()


def softmax_cross_entropy_vjp(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Gradient of :func:`softmax_cross_entropy` with respect to the logits.

    ``(P - T) / N`` with ``P = softmax(logits)`` and ``T = onehot(labels)``: the famous
    ``p - t`` of one example (chapter 2, ``eq-gradient-ce-batch``), divided by N because
    the loss is a mean.

    Parameters
    ----------
    logits : torch.Tensor
        Shape ``(N, C)``.
    labels : torch.Tensor
        Integer class indices, shape ``(N,)``.

    Returns
    -------
    torch.Tensor
        dL/dlogits, shape ``(N, C)``.
    """
    _check_logits_labels("softmax_cross_entropy_vjp", logits, labels)
    N, C = logits.shape
    p = torch.softmax(logits, dim=1)
    onehot = torch.zeros_like(p)
    onehot[torch.arange(N), labels.long()] = 1.0
    return (p - onehot) / N
