"""Explicit (generalized) Jacobians and their contraction with an upstream gradient.

Chapter 3 builds Jacobians of vector functions, chapter 4 generalizes them to
tensors ("generalized Jacobians"), and chapter 5 uses them to check the linear
layer's gradients. The convention everywhere: the Jacobian of ``y = f(x)`` has
shape ``y.shape + x.shape`` (output dims first), and
``J[i..., j...] = d y[i...] / d x[j...]``.
"""

from __future__ import annotations

import math
from typing import Callable

import torch

from .shapes import as_tensor, fmt_shape

__all__ = ["jacobian", "numerical_jacobian", "contract", "flatten_jacobian"]


def _call(func: str, f: Callable, x: torch.Tensor) -> torch.Tensor:
    y = f(x)
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{func}: f must return a torch.Tensor, got {type(y).__name__}")
    return y


def jacobian(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Generalized Jacobian of ``f`` at ``x``, built one VJP per output element.

    Reverse mode from scratch: for every element ``k`` of the output, backpropagate
    a one-hot upstream gradient ``e_k`` with :func:`torch.autograd.grad`; the result
    is row ``k`` of the Jacobian. No torch Jacobian function is called.
    Explained in chapter 3 (vectors) and chapter 4 (tensors).

    Parameters
    ----------
    f : callable
        Maps a tensor of shape ``x.shape`` to a tensor of any shape ``S``.
    x : torch.Tensor
        Point at which to differentiate, shape ``T`` (float32 or float64).

    Returns
    -------
    torch.Tensor
        Shape ``S + T`` with ``J[s, t] = d f(x)[s] / d x[t]``, dtype of ``f(x)``.
        A scalar output gives shape ``T`` (the gradient).
    """
    as_tensor("jacobian", "x", x)
    if not x.is_floating_point():
        raise TypeError(f"jacobian: x must be a floating-point tensor, got {x.dtype}")
    xr = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        y = _call("jacobian", f, xr)
        J = torch.zeros(y.numel(), x.numel(), dtype=y.dtype if y.is_floating_point() else x.dtype)
        if y.requires_grad:
            flat = y.reshape(-1)
            for k in range(flat.numel()):
                onehot = torch.zeros_like(flat)
                onehot[k] = 1.0
                (g,) = torch.autograd.grad(flat, xr, onehot, retain_graph=True,
                                           allow_unused=True)
                if g is not None:
                    J[k] = g.reshape(-1)
        # an output that does not depend on x has a zero Jacobian
    return J.reshape(tuple(y.shape) + tuple(x.shape))


def numerical_jacobian(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                       h: float = 1e-6) -> torch.Tensor:
    """Generalized Jacobian of ``f`` at ``x`` by central differences, in float64.

    ``J[..., i] = (f(x + h e_i) - f(x - h e_i)) / (2 h)``. Chapter 1 measures
    the error of central differences in float64 with ``h = 1e-6``: it is of the size of
    the round-off term ``u |f| / h`` (``u = 2**-53``), about 1e-10 for ``|f|`` near 1, and
    chapter 1 derives a bound of a few times that. Compare with ``**FD_TOL``
    (:mod:`helpers.compare`).

    Parameters
    ----------
    f : callable
        Maps a tensor of shape ``x.shape`` to a tensor of any shape ``S``.
    x : torch.Tensor
        Point, shape ``T``; it is converted to float64 before ``f`` sees it.
    h : float
        Step size, positive (the book's h, chapter 1).

    Returns
    -------
    torch.Tensor
        Shape ``S + T``, float64.
    """
    as_tensor("numerical_jacobian", "x", x)
    if not h > 0:
        raise ValueError(f"numerical_jacobian: h must be positive, got {h}")
    x64 = x.detach().to(torch.float64)
    with torch.no_grad():
        y0 = _call("numerical_jacobian", f, x64)
        cols = []
        for t in range(x64.numel()):
            step = torch.zeros(x64.numel(), dtype=torch.float64)
            step[t] = h
            step = step.reshape(x64.shape)
            plus = _call("numerical_jacobian", f, x64 + step)
            minus = _call("numerical_jacobian", f, x64 - step)
            cols.append(((plus.to(torch.float64) - minus.to(torch.float64)) / (2 * h)).reshape(-1))
    if cols:
        J = torch.stack(cols, dim=1)
    else:
        J = torch.zeros(y0.numel(), 0, dtype=torch.float64)
    return J.reshape(tuple(y0.shape) + tuple(x64.shape))


def contract(G: torch.Tensor, J: torch.Tensor) -> torch.Tensor:
    """Generalized vector-Jacobian product: sum over the output dims of ``G * J``.

    ``result[beta] = sum_alpha G[alpha] J[alpha, beta]``, with ``alpha`` running over the
    output's index tuples and ``beta`` over the input's. Chapter 4 states it; chapter 5 uses
    it to check the linear layer's closed forms.

    Parameters
    ----------
    G : torch.Tensor
        Upstream gradient dL/dY, of the output's shape ``(y)``.
    J : torch.Tensor
        Generalized Jacobian dY/dX, shape ``(y) + (x)`` (output dims first).

    Returns
    -------
    torch.Tensor
        dL/dX, of the input's shape ``(x)``.
    """
    as_tensor("contract", "G", G)
    as_tensor("contract", "J", J)
    if J.ndim < G.ndim or tuple(J.shape[:G.ndim]) != tuple(G.shape):
        raise ValueError(
            f"contract: G has shape {fmt_shape(G.shape)} but J has shape {fmt_shape(J.shape)}; "
            f"expected J's shape to start with G's shape {fmt_shape(G.shape)}"
        )
    Gx = G.reshape(tuple(G.shape) + (1,) * (J.ndim - G.ndim))
    if G.ndim == 0:  # a scalar output: nothing to sum (and sum(dim=()) would sum everything)
        return Gx * J
    return (Gx * J).sum(dim=tuple(range(G.ndim)))


def flatten_jacobian(J: torch.Tensor, out_ndim: int, order: str = "row") -> torch.Tensor:
    """Reshape a generalized Jacobian into an ordinary matrix.

    Rows index the flattened output, columns the flattened input. ``order="row"``
    flattens row-major (C order, PyTorch's ``reshape``), ``order="col"``
    column-major (the ``vec`` of matrix calculus). Chapter 4 compares the two.

    Parameters
    ----------
    J : torch.Tensor
        Shape ``(y) + (x)``, the output's shape ``(y)`` first, with ``len((y)) == out_ndim``.
    out_ndim : int
        Number of output dims at the front of ``J``.
    order : {"row", "col"}

    Returns
    -------
    torch.Tensor
        Shape ``(prod((y)), prod((x)))``.
    """
    as_tensor("flatten_jacobian", "J", J)
    if not 0 <= out_ndim <= J.ndim:
        raise ValueError(
            f"flatten_jacobian: out_ndim={out_ndim} does not fit J of shape {fmt_shape(J.shape)}"
        )
    if order not in ("row", "col"):
        raise ValueError(f"flatten_jacobian: order must be 'row' or 'col', got {order!r}")
    S, T = J.shape[:out_ndim], J.shape[out_ndim:]
    if order == "col":
        # reverse the axes within the output group and within the input group, then
        # flatten row-major: that equals column-major flattening of each group
        perm = list(range(out_ndim))[::-1] + list(range(out_ndim, J.ndim))[::-1]
        J = J.permute(perm)
    return J.reshape(math.prod(S), math.prod(T))


# --- Forward and reverse mode, one product at a time (chapter 3) ---------------------

__all__ += ["ProductCounter", "jacobian_forward", "jacobian_reverse"]


class _Tap(torch.autograd.Function):
    """The identity, whose forward-mode and reverse-mode rules count their calls."""

    generate_vmap_rule = True

    @staticmethod
    def forward(y, counter):
        return y.view_as(y)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.counter = inputs[1]

    @staticmethod
    def backward(ctx, grad):
        ctx.counter.vjps += 1
        return grad, None

    @staticmethod
    def jvp(ctx, tangent, _):
        ctx.counter.jvps += 1
        return tangent


class ProductCounter:
    """Wrap ``f`` so that autograd itself counts the JVPs and VJPs that pass through it.

    ``counted = ProductCounter(f)`` behaves like ``f``, but its output goes through an
    identity :class:`torch.autograd.Function` whose forward-mode rule increments
    ``counted.jvps`` and whose backward rule increments ``counted.vjps``. The counts are
    therefore made by the differentiation machinery (``torch.func.jvp``, ``torch.func.vjp``,
    ``torch.autograd.grad``, ``.backward``), not by the loop that asks for the products: a
    builder that computed a product twice, or batched all of them into one call (as
    ``torch.func.jacrev`` does with ``vmap``), shows a different count. Chapter 3 uses it
    to count the products of forward and reverse mode.

    Parameters
    ----------
    f : callable
        Maps a tensor to a tensor (any shapes).

    Attributes
    ----------
    jvps, vjps : int
        Products counted so far; :meth:`reset` sets both to 0.
    """

    def __init__(self, f: Callable[[torch.Tensor], torch.Tensor]):
        self.f = f
        self.jvps = 0
        self.vjps = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        y = self.f(x)
        if not isinstance(y, torch.Tensor):
            raise TypeError(f"ProductCounter: f must return a torch.Tensor, got {type(y).__name__}")
        return _Tap.apply(y, self)

    def reset(self) -> "ProductCounter":
        self.jvps = 0
        self.vjps = 0
        return self

    def __repr__(self) -> str:
        return f"ProductCounter(jvps={self.jvps}, vjps={self.vjps})"


def _check_float(func: str, x: torch.Tensor) -> None:
    as_tensor(func, "x", x)
    if not x.is_floating_point():
        raise TypeError(f"{func}: x must be a floating-point tensor, got {x.dtype}")


def jacobian_forward(f: Callable[[torch.Tensor], torch.Tensor],
                     x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Generalized Jacobian built column by column with forward mode (one JVP per input element).

    Column ``t`` of the Jacobian is the Jacobian-vector product ``J e_t`` with the
    one-hot direction ``e_t``, computed by :func:`torch.func.jvp`. Building the whole
    Jacobian therefore costs ``x.numel()`` JVPs, however many outputs ``f`` has.
    Explained in chapter 3 (forward vs reverse mode).

    Parameters
    ----------
    f : callable
        Maps a tensor of shape ``T = x.shape`` to a tensor of any shape ``S``.
    x : torch.Tensor
        Point at which to differentiate, shape ``T`` (floating point).

    Returns
    -------
    J : torch.Tensor
        Shape ``S + T`` with ``J[s, t] = d f(x)[s] / d x[t]``, equal to :func:`jacobian`.
    n_products : int
        Number of JVPs that reached ``f``'s output, counted by :class:`ProductCounter`
        (``x.numel()`` when the output depends on ``x``; 0 for an output that does not).
    """
    _check_float("jacobian_forward", x)
    x = x.detach()
    counted = ProductCounter(f)
    y = _call("jacobian_forward", f, x)
    cols = []
    for t in range(x.numel()):
        direction = torch.zeros(x.numel(), dtype=x.dtype, device=x.device)
        direction[t] = 1.0
        _, col = torch.func.jvp(counted, (x,), (direction.reshape(x.shape),))
        cols.append(col.reshape(-1))
    if cols:
        J = torch.stack(cols, dim=1)
    else:
        J = torch.zeros(y.numel(), 0, dtype=y.dtype, device=y.device)
    return J.reshape(tuple(y.shape) + tuple(x.shape)), counted.jvps


def jacobian_reverse(f: Callable[[torch.Tensor], torch.Tensor],
                     x: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Generalized Jacobian built row by row with reverse mode (one VJP per output element).

    Row ``s`` of the Jacobian is the vector-Jacobian product ``e_s^T J`` with the
    one-hot upstream gradient ``e_s``: :func:`torch.func.vjp` evaluates ``f`` once and
    returns a function that is called once per output element. Building the whole
    Jacobian therefore costs ``f(x).numel()`` VJPs, however many inputs ``f`` has.
    Explained in chapter 3 (forward vs reverse mode).

    Parameters
    ----------
    f : callable
        Maps a tensor of shape ``T = x.shape`` to a tensor of any shape ``S``.
    x : torch.Tensor
        Point at which to differentiate, shape ``T`` (floating point).

    Returns
    -------
    J : torch.Tensor
        Shape ``S + T`` with ``J[s, t] = d f(x)[s] / d x[t]``, equal to :func:`jacobian`.
    n_products : int
        Number of VJPs that went back through ``f``'s output, counted by
        :class:`ProductCounter` (``f(x).numel()`` when the output depends on ``x``; 0 for
        an output that does not).
    """
    _check_float("jacobian_reverse", x)
    x = x.detach()
    counted = ProductCounter(f)
    y, vjp_fn = torch.func.vjp(counted, x)
    rows = []
    for s in range(y.numel()):
        onehot = torch.zeros(y.numel(), dtype=y.dtype, device=y.device)
        onehot[s] = 1.0
        (row,) = vjp_fn(onehot.reshape(y.shape))
        rows.append(row.reshape(-1))
    if rows:
        J = torch.stack(rows, dim=0)
    else:
        J = torch.zeros(0, x.numel(), dtype=y.dtype, device=y.device)
    return J.reshape(tuple(y.shape) + tuple(x.shape)), counted.vjps
