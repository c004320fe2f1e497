"""Helpers for the executable book on backpropagation through a linear layer.

One module per concept (see each module's docstring for the chapter that explains it):

- :mod:`helpers.shapes`    -- shape checks that raise ``ValueError`` naming the shapes
- :mod:`helpers.jacobians` -- explicit (generalized) Jacobians, contraction, flattening
- :mod:`helpers.layers`    -- linear layer, ReLU, softmax cross-entropy and their VJPs
- :mod:`helpers.compare`   -- a comparison printout that also asserts
- :mod:`helpers.plotting`  -- the book's figures and style

Importing this package has no side effects (no seeding, no rcParams changes).
"""

from .compare import compare
from .jacobians import contract, flatten_jacobian, jacobian, numerical_jacobian
from .layers import (
    linear,
    linear_vjp,
    nn_linear_vjp,
    relu,
    relu_vjp,
    softmax_cross_entropy,
    softmax_cross_entropy_vjp,
)

__all__ = [
    "compare",
    "contract",
    "flatten_jacobian",
    "jacobian",
    "numerical_jacobian",
    "linear",
    "linear_vjp",
    "nn_linear_vjp",
    "relu",
    "relu_vjp",
    "softmax_cross_entropy",
    "softmax_cross_entropy_vjp",
]
