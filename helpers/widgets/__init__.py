"""Interactive Jacobian explorers: pure callbacks and thin ipywidgets wrappers.

Three explorers, each in two layers:

- a **pure callback** ``*_view(...)``: plain arguments in, a named tuple out (a closed
  matplotlib figure and the tensors it shows). It keeps no widget state, checks what it
  draws against an independent computation and raises ``AssertionError`` if the two
  disagree, so a picture can never silently show a wrong matrix. Tested without a kernel.
- a **thin wrapper** ``*_explorer(...)``: ipywidgets controls wired to the callback with
  ``observe``; the figure is shown as an ``<img>`` with alt text in an
  ``ipywidgets.HTML`` (:func:`figure_html`), so it stays accessible when the website
  embeds the widget's saved state. ipywidgets is imported only there, so importing this
  module needs torch and matplotlib only. Works with ipywidgets 8 and 7.7 (Colab's):
  the rich output is built here, not delegated to ipywidgets.
- **frames for the static website**: the rich output also carries ``text/html`` (the
  current figure and the explorer's settings); the book's Sphinx extension
  ``_ext/explorers.py`` replaces it by controls that switch figures precomputed with
  :func:`static_view` over the bounded grid :data:`STATIC_GRIDS`.

One module per explorer, by the chapter that uses it:

- :mod:`helpers.widgets.elementwise` -- chapter 3 (element-wise layers):
  :func:`elementwise_jacobian_view`, :func:`elementwise_jacobian_explorer`;
- :mod:`helpers.widgets.linear` -- chapter 5 (structure of the linear layer's Jacobians):
  :func:`linear_jacobian_view`, :func:`linear_closed_form`, :func:`linear_jacobian_explorer`;
- :mod:`helpers.widgets.mlp` -- chapter 7 (the MLP's backward pass, layer by layer):
  :func:`mlp_backward_steps`, :func:`mlp_step_view`, :func:`mlp_backward_explorer`;
- :mod:`helpers.widgets.base` -- what they share (checks, :func:`figure_html`, the wrapper
  base class); :mod:`helpers.widgets.static` -- the website's frames.

Everything is re-exported here: ``from helpers.widgets import linear_jacobian_explorer``.

Data come from a private ``torch.Generator`` seeded by the ``seed`` argument; importing
the module seeds nothing and changes no matplotlib settings.
"""

from .base import ELEMENTWISE_SIZE_RANGE, SIZE_RANGE, check_same, figure_html
from .elementwise import (ACTIVATIONS, ElementwiseJacobianExplorer, ElementwiseView,
                          elementwise_jacobian_explorer, elementwise_jacobian_view)
from .linear import (LinearJacobianExplorer, LinearView, linear_closed_form,
                     linear_jacobian_explorer, linear_jacobian_view)
from .mlp import (MLP_LAYERS, MLPBackwardExplorer, MLPStep, MLPView, mlp_backward_explorer,
                  mlp_backward_steps, mlp_step_view)
from .static import STATIC_GRIDS, static_values, static_view

__all__ = [
    "SIZE_RANGE",
    "ELEMENTWISE_SIZE_RANGE",
    "ACTIVATIONS",
    "MLP_LAYERS",
    "STATIC_GRIDS",
    "static_values",
    "static_view",
    "check_same",
    "figure_html",
    "linear_closed_form",
    "linear_jacobian_view",
    "elementwise_jacobian_view",
    "mlp_backward_steps",
    "mlp_step_view",
    "linear_jacobian_explorer",
    "elementwise_jacobian_explorer",
    "mlp_backward_explorer",
    "LinearView",
    "ElementwiseView",
    "MLPStep",
    "MLPView",
    "LinearJacobianExplorer",
    "ElementwiseJacobianExplorer",
    "MLPBackwardExplorer",
]
