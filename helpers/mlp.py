"""A two-layer MLP with a hand-written backward pass, a toy data set and a plot (chapter 7).

The network, in the book's row convention (one example per row, chapter 5):

``Z1 = X @ W1 + b1`` (N, H), ``A1 = relu(Z1)`` (N, H), ``Z2 = A1 @ W2 + b2`` (N, C),

followed by a loss of ``Z2``: :func:`helpers.softmax_cross_entropy` for class labels or
:func:`mse_loss` for real-valued targets. :func:`mlp_backward` chains the layers' VJPs
(:func:`helpers.linear_vjp`, :func:`helpers.relu_vjp`) starting from ``dZ2 = dL/dZ2``;
chapter 7 derives every step and checks it against explicit Jacobians, autograd and
float64 central differences.

:func:`residual_mlp_forward` and :func:`residual_mlp_backward` are the three-layer network
with a residual connection and weight decay of chapter 7's code exercise
``ex-mlp-residual``: the reference its checker compares the student's function with.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from .layers import linear, linear_vjp, relu, relu_vjp
from .shapes import as_tensor, check_ndim, check_shape, fmt_shape

__all__ = [
    "PARAM_NAMES",
    "two_moons",
    "init_mlp",
    "mlp_forward",
    "mlp_backward",
    "residual_mlp_forward",
    "residual_mlp_backward",
    "mse_loss",
    "mse_loss_vjp",
    "accuracy",
    "plot_decision_boundary",
    "OKABE_ITO",
]

#: The parameters of the two-layer MLP, in the order the book lists them.
PARAM_NAMES = ("W1", "b1", "W2", "b2")

#: Okabe-Ito colours (blue, orange, bluish green, vermillion, reddish purple): a
#: qualitative palette that stays distinguishable with the common colour-vision deficiencies.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7")
_MARKERS = ("o", "^", "s", "D", "v")


def two_moons(n: int = 200, noise: float = 0.1, seed: int = 0,
              dtype: torch.dtype = torch.float64):
    """Two interleaving half circles in the plane, a classic non-linearly separable set.

    Class 0 lies on the upper half circle of radius 1 centred at (0, 0), class 1 on the
    lower half circle centred at (1, 0.5). Each point's angle on its half circle is drawn
    uniformly from ``[0, pi]`` and Gaussian noise of standard deviation ``noise`` is added
    to both coordinates, all from one generator seeded with ``seed`` (NumPy's
    ``default_rng``), and the points are shuffled. The same ``seed`` always gives the same
    data; another seed gives other points (new angles and new noise), so a second seed
    is a genuinely held-out sample of the same distribution (chapter 7).

    Parameters
    ----------
    n : int
        Number of points, at least 2; class 0 gets ``n // 2`` of them.
    noise : float
        Standard deviation of the noise, non-negative.
    seed : int
        Seed of the random generator.
    dtype : torch.dtype
        Floating dtype of ``X``.

    Returns
    -------
    X : torch.Tensor
        Points, shape ``(n, 2)``.
    labels : torch.Tensor
        Class indices 0 or 1, shape ``(n,)``, dtype int64.
    """
    if int(n) != n or n < 2:
        raise ValueError(f"two_moons: n must be an integer >= 2, got {n}")
    if not noise >= 0:
        raise ValueError(f"two_moons: noise must be >= 0, got {noise}")
    n = int(n)
    rng = np.random.default_rng(seed)
    n0 = n // 2
    n1 = n - n0
    t0 = rng.uniform(0.0, math.pi, n0)
    t1 = rng.uniform(0.0, math.pi, n1)
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    lower = np.stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    X = np.concatenate([upper, lower]) + noise * rng.standard_normal((n, 2))
    labels = np.concatenate([np.zeros(n0, dtype=np.int64), np.ones(n1, dtype=np.int64)])
    order = rng.permutation(n)
    return (torch.tensor(X[order], dtype=dtype), torch.tensor(labels[order], dtype=torch.int64))


def init_mlp(D: int, H: int, C: int, seed: int = 0,
             dtype: torch.dtype = torch.float64) -> dict[str, torch.Tensor]:
    """Random initial parameters of the MLP (He-scaled weights, zero biases).

    ``W1`` has entries ``N(0, 2/D)`` (suited to a ReLU after it), ``W2`` entries
    ``N(0, 1/H)``; both biases start at zero. Uses its own ``torch.Generator`` seeded with
    ``seed``, so the global random state is untouched.

    Parameters
    ----------
    D, H, C : int
        Input size, hidden size and number of outputs (classes), each >= 1.
    seed : int
        Seed of the generator.
    dtype : torch.dtype
        Floating dtype of every parameter.

    Returns
    -------
    dict
        ``{"W1": (D, H), "b1": (H,), "W2": (H, C), "b2": (C,)}``.
    """
    for name, v in (("D", D), ("H", H), ("C", C)):
        if int(v) != v or v < 1:
            raise ValueError(f"init_mlp: {name} must be an integer >= 1, got {v}")
    gen = torch.Generator().manual_seed(seed)
    return {
        "W1": torch.randn(D, H, generator=gen, dtype=dtype) * math.sqrt(2.0 / D),
        "b1": torch.zeros(H, dtype=dtype),
        "W2": torch.randn(H, C, generator=gen, dtype=dtype) * math.sqrt(1.0 / H),
        "b2": torch.zeros(C, dtype=dtype),
    }


def _check_params(func: str, params: dict) -> tuple[int, int, int]:
    if not isinstance(params, dict):
        raise TypeError(f"{func}: params must be a dict with keys {PARAM_NAMES}, "
                        f"got {type(params).__name__}")
    missing = [k for k in PARAM_NAMES if k not in params]
    if missing:
        raise ValueError(f"{func}: params is missing {missing}; expected keys {PARAM_NAMES}")
    check_ndim(func, "W1", params["W1"], 2, meaning="W1 is (D, H)")
    D, H = params["W1"].shape
    check_ndim(func, "W2", params["W2"], 2, meaning="W2 is (H, C)")
    check_shape(func, "W2", params["W2"], (H, None), "(H, C) with H = W1.shape[1]")
    C = params["W2"].shape[1]
    check_shape(func, "b1", params["b1"], (H,), "(H,) with H = W1.shape[1]")
    check_shape(func, "b2", params["b2"], (C,), "(C,) with C = W2.shape[1]")
    return D, H, C


def mlp_forward(X: torch.Tensor, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Forward pass of the two-layer MLP, keeping every intermediate for the backward pass.

    Parameters
    ----------
    X : torch.Tensor
        Inputs, shape ``(N, D)``.
    params : dict
        ``{"W1": (D, H), "b1": (H,), "W2": (H, C), "b2": (C,)}``.

    Returns
    -------
    dict
        The cache ``{"X": (N, D), "Z1": (N, H), "A1": (N, H), "Z2": (N, C)}``, where
        ``Z1 = X @ W1 + b1``, ``A1 = relu(Z1)`` and ``Z2 = A1 @ W2 + b2`` (the logits).
    """
    D, _, _ = _check_params("mlp_forward", params)
    check_ndim("mlp_forward", "X", X, 2, meaning="X is (N, D)")
    check_shape("mlp_forward", "X", X, (None, D), "(N, D) with D = W1.shape[0]")
    Z1 = linear(X, params["W1"], params["b1"])
    A1 = relu(Z1)
    Z2 = linear(A1, params["W2"], params["b2"])
    return {"X": X, "Z1": Z1, "A1": A1, "Z2": Z2}


def mlp_backward(dZ2: torch.Tensor, cache: dict[str, torch.Tensor],
                 params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Backward pass of the two-layer MLP: the layers' VJPs chained by hand (chapter 7).

    Starting from ``dZ2 = dL/dZ2`` (from any loss), in reverse order::

        dA1, dW2, db2 = linear_vjp(dZ2, A1, W2)
        dZ1           = relu_vjp(dA1, Z1)
        dX,  dW1, db1 = linear_vjp(dZ1, X, W1)

    Parameters
    ----------
    dZ2 : torch.Tensor
        Upstream gradient dL/dZ2, shape ``(N, C)``.
    cache : dict
        What :func:`mlp_forward` returned for the same ``params``: ``X``, ``Z1``, ``A1``.
    params : dict
        ``W1``, ``b1``, ``W2``, ``b2``, as for :func:`mlp_forward`.

    Returns
    -------
    dict
        The gradients of the loss, keyed by the names below; each has the shape of the
        tensor it belongs to.
    dX : torch.Tensor
        Key ``"dX"``, dL/dX, shape ``(N, D)``.
    dW1 : torch.Tensor
        Key ``"dW1"``, shape ``(D, H)``.
    db1 : torch.Tensor
        Key ``"db1"``, shape ``(H,)``.
    dW2 : torch.Tensor
        Key ``"dW2"``, shape ``(H, C)``.
    db2 : torch.Tensor
        Key ``"db2"``, shape ``(C,)``.
    dA1 : torch.Tensor
        Key ``"dA1"``, the gradient sent down by the second layer, shape ``(N, H)``.
    dZ1 : torch.Tensor
        Key ``"dZ1"``, the gradient sent down by the ReLU, shape ``(N, H)``.

    Raises
    ------
    ValueError
        If a shape does not fit (the message names it).
    """
    D, H, C = _check_params("mlp_backward", params)
    if not isinstance(cache, dict) or any(k not in cache for k in ("X", "Z1", "A1")):
        raise ValueError("mlp_backward: cache must be the dict returned by mlp_forward, "
                         "with keys 'X', 'Z1', 'A1', 'Z2'")
    X, Z1, A1 = cache["X"], cache["Z1"], cache["A1"]
    check_ndim("mlp_backward", "X", X, 2, meaning="X is (N, D)")
    N = X.shape[0]
    check_shape("mlp_backward", "X", X, (N, D), "(N, D) with D = W1.shape[0]")
    check_shape("mlp_backward", "Z1", Z1, (N, H), "(N, H) with H = W1.shape[1]")
    check_shape("mlp_backward", "A1", A1, (N, H), "(N, H) with H = W1.shape[1]")
    as_tensor("mlp_backward", "dZ2", dZ2)
    check_shape("mlp_backward", "dZ2", dZ2, (N, C), "(N, C), the shape of Z2")
    dA1, dW2, db2 = linear_vjp(dZ2, A1, params["W2"])
    dZ1 = relu_vjp(dA1, Z1)
    dX, dW1, db1 = linear_vjp(dZ1, X, params["W1"])
    return {"dX": dX, "dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2, "dA1": dA1, "dZ1": dZ1}


def _check_residual(func: str, X, W1, b1, W2, b2, W3, b3) -> tuple[int, int, int, int]:
    check_ndim(func, "X", X, 2, meaning="X is (N, D)")
    N, D = X.shape
    check_ndim(func, "W1", W1, 2, meaning="W1 is (D, H)")
    check_shape(func, "W1", W1, (D, None), "(D, H) with D = X.shape[1]")
    H = W1.shape[1]
    check_shape(func, "b1", b1, (H,), "(H,) with H = W1.shape[1]")
    check_shape(func, "W2", W2, (H, H), "(H, H): the residual A1 + relu(Z2) needs a square W2")
    check_shape(func, "b2", b2, (H,), "(H,) with H = W1.shape[1]")
    check_ndim(func, "W3", W3, 2, meaning="W3 is (H, C)")
    check_shape(func, "W3", W3, (H, None), "(H, C) with H = W1.shape[1]")
    C = W3.shape[1]
    check_shape(func, "b3", b3, (C,), "(C,) with C = W3.shape[1]")
    return N, D, H, C


def residual_mlp_forward(X: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor, W2: torch.Tensor,
                         b2: torch.Tensor, W3: torch.Tensor, b3: torch.Tensor) -> dict:
    """Forward pass of the three-layer MLP with a residual connection (chapter 7).

    ``Z1 = X @ W1 + b1``, ``A1 = relu(Z1)``, ``Z2 = A1 @ W2 + b2``,
    ``A2 = A1 + relu(Z2)`` (the skip: ``A1`` feeds both the second layer and the sum),
    ``Z3 = A2 @ W3 + b3``.

    Parameters
    ----------
    X : torch.Tensor
        Inputs, shape ``(N, D)``.
    W1 : torch.Tensor
        Shape ``(D, H)``.
    b1 : torch.Tensor
        Shape ``(H,)``.
    W2 : torch.Tensor
        Shape ``(H, H)``: square, so that ``relu(Z2)`` can be added to ``A1``.
    b2 : torch.Tensor
        Shape ``(H,)``.
    W3 : torch.Tensor
        Shape ``(H, C)``.
    b3 : torch.Tensor
        Shape ``(C,)``.

    Returns
    -------
    dict
        ``{"Z1": (N, H), "A1": (N, H), "Z2": (N, H), "A2": (N, H), "Z3": (N, C)}``.

    Raises
    ------
    ValueError
        If the shapes do not fit together (the message names them).
    """
    _check_residual("residual_mlp_forward", X, W1, b1, W2, b2, W3, b3)
    Z1 = linear(X, W1, b1)
    A1 = relu(Z1)
    Z2 = linear(A1, W2, b2)
    A2 = A1 + relu(Z2)
    return {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2, "Z3": linear(A2, W3, b3)}


def residual_mlp_backward(dZ3: torch.Tensor, X: torch.Tensor, W1: torch.Tensor, b1: torch.Tensor,
                          W2: torch.Tensor, b2: torch.Tensor, W3: torch.Tensor, b3: torch.Tensor,
                          lam: float = 0.0):
    """Backward pass of the residual MLP with weight decay (chapter 7, ``ex-mlp-residual``).

    The network is :func:`residual_mlp_forward`; the loss is
    ``L = ell(Z3) + lam / 2 * (|W1|^2 + |W2|^2 + |W3|^2)`` (squared Frobenius norms; the
    biases are not decayed), and ``dZ3 = dL/dZ3`` (the penalty does not depend on Z3). Two tensors fan out, and their
    gradients are sums: ``A1`` feeds the second layer and the skip, so
    ``dA1 = dA2 + dZ2 @ W2.T``; each weight feeds its layer and the penalty, so
    ``dW = (layer's part) + lam * W``::

        dA2, dW3, db3 = linear_vjp(dZ3, A2, W3); dW3 += lam * W3
        dZ2           = relu_vjp(dA2, Z2)
        dA1, dW2, db2 = linear_vjp(dZ2, A1, W2); dA1 += dA2;  dW2 += lam * W2
        dZ1           = relu_vjp(dA1, Z1)
        dX,  dW1, db1 = linear_vjp(dZ1, X, W1);  dW1 += lam * W1

    Parameters
    ----------
    dZ3 : torch.Tensor
        Upstream gradient dL/dZ3, shape ``(N, C)``.
    X : torch.Tensor
        Inputs, shape ``(N, D)``.
    W1 : torch.Tensor
        Shape ``(D, H)``.
    b1 : torch.Tensor
        Shape ``(H,)``.
    W2 : torch.Tensor
        Shape ``(H, H)``.
    b2 : torch.Tensor
        Shape ``(H,)``.
    W3 : torch.Tensor
        Shape ``(H, C)``.
    b3 : torch.Tensor
        Shape ``(C,)``.
    lam : float
        The weight-decay coefficient, >= 0.

    Returns
    -------
    dX : torch.Tensor
        dL/dX, shape ``(N, D)``.
    dW1 : torch.Tensor
        dL/dW1, shape ``(D, H)``.
    db1 : torch.Tensor
        dL/db1, shape ``(H,)``.
    dW2 : torch.Tensor
        dL/dW2, shape ``(H, H)``.
    db2 : torch.Tensor
        dL/db2, shape ``(H,)``.
    dW3 : torch.Tensor
        dL/dW3, shape ``(H, C)``.
    db3 : torch.Tensor
        dL/db3, shape ``(C,)``.

    Raises
    ------
    ValueError
        If the shapes do not fit together, or ``lam`` is negative or not a number.
    """
    func = "residual_mlp_backward"
    N, _, _, C = _check_residual(func, X, W1, b1, W2, b2, W3, b3)
    as_tensor(func, "dZ3", dZ3)
    check_shape(func, "dZ3", dZ3, (N, C), "(N, C), the shape of Z3")
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not lam >= 0:
        raise ValueError(f"{func}: lam must be a number >= 0, got {lam!r}")
    f = residual_mlp_forward(X, W1, b1, W2, b2, W3, b3)
    dA2, dW3, db3 = linear_vjp(dZ3, f["A2"], W3)
    dZ2 = relu_vjp(dA2, f["Z2"])
    dA1, dW2, db2 = linear_vjp(dZ2, f["A1"], W2)
    dA1 = dA1 + dA2                                   # A1 fans out: layer 2 and the skip
    dZ1 = relu_vjp(dA1, f["Z1"])
    dX, dW1, db1 = linear_vjp(dZ1, X, W1)
    return (dX, dW1 + lam * W1, db1, dW2 + lam * W2, db2, dW3 + lam * W3, db3)


def _check_pred_target(func: str, Yhat: torch.Tensor, T: torch.Tensor) -> None:
    as_tensor(func, "Yhat", Yhat)
    as_tensor(func, "T", T)
    check_shape(func, "T", T, tuple(Yhat.shape), "Yhat.shape")
    if Yhat.numel() == 0:
        raise ValueError(f"{func}: Yhat has shape {fmt_shape(Yhat.shape)}; need at least one element")


def mse_loss(Yhat: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """Mean squared error ``mean((Yhat - T)**2)`` over every element (chapter 7).

    The same definition as :func:`torch.nn.functional.mse_loss` with its default
    ``reduction="mean"``.

    Parameters
    ----------
    Yhat : torch.Tensor
        Predictions, any shape, e.g. ``(N, C)``.
    T : torch.Tensor
        Targets, shape of ``Yhat``.

    Returns
    -------
    torch.Tensor
        Scalar (shape ``()``).
    """
    _check_pred_target("mse_loss", Yhat, T)
    return ((Yhat - T) ** 2).mean()


def mse_loss_vjp(Yhat: torch.Tensor, T: torch.Tensor) -> torch.Tensor:
    """Gradient of :func:`mse_loss` with respect to ``Yhat``: ``2 (Yhat - T) / Yhat.numel()``.

    Parameters
    ----------
    Yhat : torch.Tensor
        Predictions, any shape, e.g. ``(N, C)``.
    T : torch.Tensor
        Targets, shape of ``Yhat``.

    Returns
    -------
    torch.Tensor
        dL/dYhat, shape of ``Yhat``.
    """
    _check_pred_target("mse_loss_vjp", Yhat, T)
    return 2.0 * (Yhat - T) / Yhat.numel()


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows whose largest logit is at the true class.

    Parameters
    ----------
    logits : torch.Tensor
        Shape ``(N, C)``.
    labels : torch.Tensor
        Integer class indices, shape ``(N,)``.

    Returns
    -------
    float
        In ``[0, 1]``; a multiple of ``1/N``.
    """
    check_ndim("accuracy", "logits", logits, 2, meaning="logits are (N, C)")
    check_shape("accuracy", "labels", labels, (logits.shape[0],),
                "(N,) with N = logits.shape[0]")
    if logits.shape[0] == 0:
        raise ValueError(f"accuracy: logits has shape {fmt_shape(logits.shape)}; need N >= 1")
    correct = int((logits.argmax(dim=1) == labels.long()).sum())
    return correct / logits.shape[0]


def plot_decision_boundary(predict: Callable[[torch.Tensor], torch.Tensor], X: torch.Tensor,
                           labels: torch.Tensor, ax=None, *, resolution: int = 100,
                           margin: float = 0.5, title: str = ""):
    """Draw a 2-D classifier's regions and boundary, with the data on top.

    Each predicted class region is tinted with a light Okabe-Ito colour, the boundaries
    are black lines, and the points carry both a colour and a marker shape per class, so
    the figure reads without colour too.

    Parameters
    ----------
    predict : callable
        Maps points of shape ``(K, 2)`` (float64) to class scores of shape ``(K, C)``,
        e.g. the MLP's logits; it is called once, on the whole grid, without gradients.
    X : torch.Tensor
        Data points, shape ``(N, 2)``.
    labels : torch.Tensor
        Their classes, shape ``(N,)``, values in ``[0, C)`` with ``C <= 5``.
    ax : matplotlib Axes, optional
        Where to draw; a new figure is made if omitted.
    resolution : int
        Grid points per axis.
    margin : float
        How far the grid extends beyond the data.
    title : str
        Axes title.

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap, to_rgb

    check_ndim("plot_decision_boundary", "X", X, 2, meaning="X is (N, 2)")
    check_shape("plot_decision_boundary", "X", X, (None, 2), "(N, 2): points in the plane")
    check_shape("plot_decision_boundary", "labels", labels, (X.shape[0],),
                "(N,) with N = X.shape[0]")
    x = X.detach().to(torch.float64)
    lo = x.min(dim=0).values - margin
    hi = x.max(dim=0).values + margin
    g0 = torch.linspace(float(lo[0]), float(hi[0]), resolution, dtype=torch.float64)
    g1 = torch.linspace(float(lo[1]), float(hi[1]), resolution, dtype=torch.float64)
    gx, gy = torch.meshgrid(g0, g1, indexing="xy")
    grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)
    with torch.no_grad():
        scores = predict(grid)
    check_shape("plot_decision_boundary", "predict(grid)", scores, (grid.shape[0], None),
                "(K, C): one row of scores per grid point")
    C = scores.shape[1]
    if C > len(OKABE_ITO) or (labels.numel() and int(labels.max()) >= max(C, 1)):
        raise ValueError(f"plot_decision_boundary: predict gives {C} classes and labels go up to "
                         f"{int(labels.max())}; at most {len(OKABE_ITO)} classes are supported")
    pred = scores.argmax(dim=1).reshape(gx.shape).numpy()
    if ax is None:
        _, ax = plt.subplots(figsize=(4.8, 3.8))
    tints = [tuple(0.75 + 0.25 * np.array(to_rgb(c))) for c in OKABE_ITO[:C]]
    ax.contourf(gx.numpy(), gy.numpy(), pred, levels=np.arange(C + 1) - 0.5,
                cmap=ListedColormap(tints))
    if C >= 2:
        ax.contour(gx.numpy(), gy.numpy(), pred, levels=np.arange(C - 1) + 0.5,
                   colors="black", linewidths=1.2)
    lab = labels.detach().cpu().numpy()
    pts = x.cpu().numpy()
    for c in range(C):
        sel = lab == c
        ax.scatter(pts[sel, 0], pts[sel, 1], s=16, c=OKABE_ITO[c], marker=_MARKERS[c],
                   edgecolors="black", linewidths=0.4, label=f"class {c}")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)
    return ax
