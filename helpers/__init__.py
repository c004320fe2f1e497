"""Helpers for the executable book on backpropagation through a linear layer.

One module per concept (see each module's docstring for the chapter that explains it):

- :mod:`helpers.shapes`    -- shape checks that raise ``ValueError`` naming the shapes
- :mod:`helpers.jacobians` -- explicit (generalized) Jacobians, contraction, flattening
- :mod:`helpers.layers`    -- linear layer, ReLU, softmax cross-entropy and their VJPs
- :mod:`helpers.compare`   -- a comparison printout that also asserts; failure demos
- :mod:`helpers.glue`      -- numbers in the prose, glued from the code (myst-nb)
- :mod:`helpers.plotting`  -- the book's figures and style
- :mod:`helpers.calculus_plots` -- figures of chapters 1 and 2 (tangent, chain graph,
  finite-difference error, contours with gradient arrows)
- :mod:`helpers.mlp`       -- the two-layer MLP of chapter 7: data, forward, backward, plot
- :mod:`helpers.widgets`   -- Jacobian explorers of chapters 3, 5, 7, one module each: pure
  callbacks and thin ipywidgets wrappers (import it explicitly; it is not re-exported here)
- :mod:`helpers.exercises` -- the code exercises' self-checks, one module per chapter

Importing this package has no side effects (no seeding, no rcParams changes).
"""

from .compare import FailureDemoPassed, compare, expect_wrong, rejects
from .glue import glue
from .jacobians import contract, flatten_jacobian, jacobian, numerical_jacobian
from .jacobians import jacobian_forward, jacobian_reverse
from .layers import (
    linear,
    linear_vjp,
    nn_linear_vjp,
    relu,
    relu_vjp,
    softmax_cross_entropy,
    softmax_cross_entropy_vjp,
)
from .mlp import (accuracy, init_mlp, mlp_backward, mlp_forward, mse_loss, mse_loss_vjp,
                  residual_mlp_backward, two_moons)

__all__ = [
    "FailureDemoPassed",
    "compare",
    "expect_wrong",
    "glue",
    "rejects",
    "contract",
    "flatten_jacobian",
    "jacobian",
    "jacobian_forward",
    "jacobian_reverse",
    "numerical_jacobian",
    "linear",
    "linear_vjp",
    "nn_linear_vjp",
    "relu",
    "relu_vjp",
    "softmax_cross_entropy",
    "softmax_cross_entropy_vjp",
    "accuracy",
    "init_mlp",
    "mlp_backward",
    "mlp_forward",
    "mse_loss",
    "mse_loss_vjp",
    "residual_mlp_backward",
    "two_moons",
]
