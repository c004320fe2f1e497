"""The explorer of chapter 7: the MLP's backward pass, one layer at a time
(:func:`mlp_backward_steps`, :func:`mlp_step_view`).
"""

from __future__ import annotations

from typing import NamedTuple

import matplotlib.pyplot as plt
import torch

from ..layers import softmax_cross_entropy, softmax_cross_entropy_vjp
from ..mlp import init_mlp, mlp_backward, mlp_forward
from ..plotting import plot_matrix
from ..shapes import fmt_shape
from .base import (
    F64,
    SIZE_RANGE,
    _Explorer,
    check_same,
    check_size,
)

__all__ = ["MLPBackwardExplorer", "MLPStep", "MLPView", "MLP_LAYERS", "mlp_backward_explorer", "mlp_backward_steps", "mlp_step_view"]


#: Layers of the MLP in forward order.
MLP_LAYERS = ("linear 1", "ReLU", "linear 2", "softmax cross-entropy")


class MLPStep(NamedTuple):
    """One step of the backward pass (see :func:`mlp_backward_steps`)."""

    layer: str                    #: layer name, one of MLP_LAYERS
    upstream_name: str            #: e.g. "dZ2"
    upstream: torch.Tensor        #: dL/d(layer output), shape of the layer's output
    input_name: str               #: e.g. "A1"
    input: torch.Tensor           #: the layer's input (saved by the forward pass)
    grad_input_name: str          #: e.g. "dA1"
    grad_input: torch.Tensor      #: dL/d(layer input), shape of the input
    param_grads: dict             #: name -> gradient of the layer's parameters (may be empty)


def _mlp_data(N: int, D: int, H: int, C: int, seed: int):
    """X (N, D) and labels (N,) from a private generator; parameters from init_mlp."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(N, D, generator=g, dtype=F64)
    labels = torch.randint(0, C, (N,), generator=g)
    return X, init_mlp(D, H, C, seed=seed), labels


def _mlp_autograd(X, W1, b1, W2, b2, labels) -> dict:
    """Every gradient of the MLP by torch autograd, with plain torch ops only."""
    leaves = [t.detach().clone().requires_grad_(True) for t in (X, W1, b1, W2, b2)]
    Xa, W1a, b1a, W2a, b2a = leaves
    with torch.enable_grad():
        Z1 = Xa @ W1a + b1a
        A1 = torch.nn.functional.relu(Z1)
        Z2 = A1 @ W2a + b2a
        for t in (Z1, A1, Z2):
            t.retain_grad()
        L = torch.nn.functional.cross_entropy(Z2, labels)
        L.backward()
    return {"dZ2": Z2.grad, "dA1": A1.grad, "dZ1": Z1.grad, "dX": Xa.grad,
            "dW2": W2a.grad, "db2": b2a.grad, "dW1": W1a.grad, "db1": b1a.grad}


def mlp_backward_steps(N: int = 4, D: int = 3, H: int = 5, C: int = 3,
                       seed: int = 0) -> list[MLPStep]:
    """The backward pass of a 2-layer MLP by hand, checked step by step against autograd.

    Pure function behind :func:`mlp_step_view` (chapter 7). Forward
    (:func:`helpers.mlp_forward`): ``Z1 = X @ W1 + b1``, ``A1 = relu(Z1)``,
    ``Z2 = A1 @ W2 + b2``, then ``L = softmax_cross_entropy(Z2, labels)``. Backward,
    from the loss down: :func:`helpers.softmax_cross_entropy_vjp`, then
    :func:`helpers.mlp_backward` (``linear_vjp``, ``relu_vjp``, ``linear_vjp``). Every
    gradient is asserted equal to torch autograd's (computed with plain torch ops).
    Parameters come from :func:`helpers.init_mlp` (seeded with ``seed``), X and the
    labels from a private generator seeded with ``seed``.

    Parameters
    ----------
    N, D, H, C : int
        Examples, input features, hidden units, classes; each from 1 to 6.
    seed : int
        Seed for X, the labels and the parameters.

    Returns
    -------
    list of MLPStep
        Four steps in backward order: softmax cross-entropy (upstream dL/dL = 1,
        shape ``()``, input Z2 ``(N, C)``), linear 2 (upstream dZ2 ``(N, C)``, input
        A1 ``(N, H)``), ReLU (upstream dA1 ``(N, H)``, input Z1 ``(N, H)``), linear 1
        (upstream dZ1 ``(N, H)``, input X ``(N, D)``).

    Raises
    ------
    ValueError
        If a size is outside 1..6.
    AssertionError
        If a hand-computed gradient differs from autograd's.
    """
    func = "mlp_backward_steps"
    lo, hi = SIZE_RANGE
    N, D, H, C = (check_size(func, k, v, lo, hi) for k, v in zip("NDHC", (N, D, H, C)))
    X, params, labels = _mlp_data(N, D, H, C, seed)

    # forward and backward with the book's helpers (helpers.mlp chains linear_vjp,
    # relu_vjp, linear_vjp); the loss layer's VJP starts the chain with dL/dL = 1
    cache = mlp_forward(X, params)
    Z1, A1, Z2 = cache["Z1"], cache["A1"], cache["Z2"]
    _ = softmax_cross_entropy(Z2, labels)
    one = torch.ones((), dtype=F64)
    dZ2 = one * softmax_cross_entropy_vjp(Z2, labels)
    grads = mlp_backward(dZ2, cache, params)
    dA1, dZ1, dX = grads["dA1"], grads["dZ1"], grads["dX"]

    auto = _mlp_autograd(X, params["W1"], params["b1"], params["W2"], params["b2"], labels)
    mine = {"dZ2": dZ2, "dA1": dA1, "dZ1": dZ1, "dX": dX, "dW2": grads["dW2"],
            "db2": grads["db2"], "dW1": grads["dW1"], "db1": grads["db1"]}
    for name, value in mine.items():
        check_same(f"{name} (by hand) vs autograd", value, auto[name])

    return [
        MLPStep("softmax cross-entropy", "dL/dL", one, "Z2", Z2, "dZ2", dZ2, {}),
        MLPStep("linear 2", "dZ2", dZ2, "A1", A1, "dA1", dA1,
                {"dW2": grads["dW2"], "db2": grads["db2"]}),
        MLPStep("ReLU", "dA1", dA1, "Z1", Z1, "dZ1", dZ1, {}),
        MLPStep("linear 1", "dZ1", dZ1, "X", X, "dX", dX,
                {"dW1": grads["dW1"], "db1": grads["db1"]}),
    ]


class MLPView(NamedTuple):
    """What :func:`mlp_step_view` returns."""

    fig: object                 #: the closed matplotlib Figure
    step: MLPStep               #: the step shown
    steps: list                 #: all four steps, in backward order
    alt: str                    #: alt text describing the figure


def _as_matrix(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(1, -1) if t.ndim < 2 else t


def mlp_step_view(step: int = 1, N: int = 4, D: int = 3, H: int = 5, C: int = 3,
                  seed: int = 0) -> MLPView:
    """Figure of one backward step of the MLP: upstream gradient, layer input, result.

    Pure callback of :func:`mlp_backward_explorer` (chapter 7). Step 1 is the loss
    (the first layer the backward pass meets), step 4 is ``linear 1``. The figure shows
    the computation graph with the current layer boxed, then three heatmaps with their
    shapes: the upstream gradient (shape of the layer's *output*), the layer's input,
    and the gradient sent down (shape of the *input*). All gradients are checked against
    autograd by :func:`mlp_backward_steps`.

    Parameters
    ----------
    step : int
        1 to 4, in backward order.
    N, D, H, C : int
        Sizes, each from 1 to 6 (see :func:`mlp_backward_steps`).
    seed : int
        Seed of the private generator.

    Returns
    -------
    MLPView
        ``(fig, step, steps, alt)``: the closed figure, the step shown, all four steps
        and an alt text describing the figure.

    Raises
    ------
    ValueError
        If ``step`` is outside 1..4 or a size outside 1..6.
    AssertionError
        If a hand-computed gradient differs from autograd's.
    """
    step = check_size("mlp_step_view", "step", step, 1, len(MLP_LAYERS))
    steps = mlp_backward_steps(N, D, H, C, seed)
    s = steps[step - 1]

    fig = plt.figure(figsize=(8.0, 4.4))
    grid = fig.add_gridspec(2, 3, height_ratios=[1, 5], left=0.05, right=0.95, bottom=0.1,
                            top=0.92, wspace=0.45, hspace=0.35)
    ax_graph = fig.add_subplot(grid[0, :])
    ax_graph.axis("off")
    nodes = ["X"] + list(MLP_LAYERS) + ["L"]
    short = {"softmax cross-entropy": "softmax CE"}
    for k, label in enumerate(nodes):
        current = label == s.layer
        ax_graph.text((k + 0.5) / len(nodes), 0.5, short.get(label, label), ha="center",
                      va="center",
                      fontsize=9, fontweight="bold" if current else "normal",
                      bbox=dict(boxstyle="round", fc="#fdb863" if current else "white",
                                ec="black" if current else "0.6"))
        if k:
            ax_graph.annotate("", xy=(k / len(nodes) + 0.025, 0.5),
                              xytext=(k / len(nodes) - 0.025, 0.5),
                              arrowprops=dict(arrowstyle="->", color="0.4"))
    ax_graph.set_title(f"backward step {step} of {len(MLP_LAYERS)}: {s.layer} "
                       f"(gradients flow right to left)", fontsize=10)

    # write the values only on small matrices: text is most of a redraw's cost
    small = max(s.upstream.numel(), s.input.numel()) <= 20
    panels = [
        (s.upstream, f"upstream {s.upstream_name}\nshape {fmt_shape(s.upstream.shape)}"),
        (s.input, f"layer input {s.input_name}\nshape {fmt_shape(s.input.shape)}"),
        (s.grad_input, f"sent down: {s.grad_input_name}\nshape {fmt_shape(s.grad_input.shape)}"),
    ]
    for k, (t, title) in enumerate(panels):
        ax = fig.add_subplot(grid[1, k])
        plot_matrix(_as_matrix(t), ax=ax, title=title, annotate=small)
        ax.title.set_fontsize(9)
    extra = ", ".join(f"{k} {fmt_shape(v.shape)}" for k, v in s.param_grads.items())
    fig.text(0.5, 0.02,
             f"{s.grad_input_name} has the shape of the input {s.input_name}"
             + (f"; parameter gradients {extra}" if extra else "")
             + ".  All checked against autograd.", ha="center", fontsize=9)
    plt.close(fig)
    alt = (f"Backward step {step} of {len(MLP_LAYERS)}, through {s.layer}, highlighted in the "
           f"chain X, linear 1, ReLU, linear 2, softmax cross-entropy, L. Heatmaps of the "
           f"upstream gradient {s.upstream_name} of shape {fmt_shape(s.upstream.shape)}, the "
           f"layer input {s.input_name} of shape {fmt_shape(s.input.shape)} and the gradient "
           f"sent down, {s.grad_input_name}, of shape {fmt_shape(s.grad_input.shape)}"
           + (f"; parameter gradients {extra}." if extra else "."))
    return MLPView(fig, s, steps, alt)


class MLPBackwardExplorer(_Explorer):
    """A step slider with Previous / Next buttons; see :func:`mlp_step_view`."""

    kind = "mlp"

    def __init__(self, step: int = 1, N: int = 4, D: int = 3, H: int = 5, C: int = 3,
                 seed: int = 0):
        import ipywidgets as w

        self.sizes = dict(N=N, D=D, H=H, C=C, seed=seed)
        self.controls = {"step": w.IntSlider(value=step, min=1, max=len(MLP_LAYERS), step=1,
                                             description="step", continuous_update=False)}
        self.prev_button = w.Button(description="◀ previous", layout=w.Layout(width="110px"))
        self.next_button = w.Button(description="next ▶", layout=w.Layout(width="110px"))
        self.prev_button.on_click(lambda _: self._move(-1))
        self.next_button.on_click(lambda _: self._move(+1))
        self.image = w.HTML()
        self.ui = w.VBox([w.HBox([self.prev_button, self.controls["step"], self.next_button]),
                          self.image])
        self._connect()

    def static_config(self) -> dict:
        return dict(self.sizes)

    def _move(self, delta: int) -> None:
        s = self.controls["step"]
        s.value = min(max(s.value + delta, s.min), s.max)

    def _callback(self, step):
        return mlp_step_view(step, **self.sizes)


def mlp_backward_explorer(step: int = 1, N: int = 4, D: int = 3, H: int = 5, C: int = 3,
                          seed: int = 0) -> MLPBackwardExplorer:
    """Step through the MLP's backward pass layer by layer (chapter 7).

    Returns
    -------
    MLPBackwardExplorer
        Display it; ``.view`` is the last :class:`MLPView`, ``.next_button`` and
        ``.prev_button`` move one step.
    """
    return MLPBackwardExplorer(step, N, D, H, C, seed)
