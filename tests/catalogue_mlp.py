"""Wrong solutions of chapter 7's code exercise (ex-mlp-residual), each with the diagnosis
its checker must give (merged into tests/test_checks.py's CATALOGUE and REQUIREMENTS).

Every wrong solution is :func:`residual` with one switch turned: one mistake each, so that
the diagnosis the checker gives can only come from that mistake.
"""

from __future__ import annotations

import math

import torch

from helpers import exercises as checks


def residual(dZ3, X, W1, b1, W2, b2, W3, b3, lam, *, skip="add", w2_t=True,
             mask1_after_sum=True, mask1="Z1", mask2="Z2", in2="A1", in3="A2", dW2_t=False,
             decay=(1.0, 1.0, 1.0), bias_decay=False):
    """The backward pass of ex-mlp-residual, right by default; each keyword plants a mistake."""
    Z1 = X @ W1 + b1
    A1 = torch.relu(Z1)
    Z2 = A1 @ W2 + b2
    A2 = A1 + torch.relu(Z2)
    masks = {"Z1": Z1 > 0, "Z2": Z2 > 0, "A2": A2 > 0, "none": torch.ones_like(Z1, dtype=torch.bool)}
    dA2 = dZ3 @ W3.T
    dZ2 = dA2 * masks[mask2]
    back2 = dZ2 @ (W2.T if w2_t else W2)
    dA1 = {"add": back2 + dA2, "none": back2, "only": dA2, "masked": back2 + dZ2}[skip]
    if mask1_after_sum:
        dZ1 = dA1 * masks[mask1]
    else:
        dZ1 = back2 * masks[mask1] + dA2
    inputs = {"A1": A1, "A2": A2, "Z1": Z1, "reluZ2": torch.relu(Z2)}
    dW3 = inputs[in3].T @ dZ3 + decay[2] * lam * W3
    dW2 = (dZ2.T @ inputs[in2] if dW2_t else inputs[in2].T @ dZ2) + decay[1] * lam * W2
    dW1 = X.T @ dZ1 + decay[0] * lam * W1
    db = [dZ1.sum(0), dZ2.sum(0), dZ3.sum(0)]
    if bias_decay:
        db = [d + lam * b for d, b in zip(db, (b1, b2, b3))]
    return dZ1 @ W1.T, dW1, db[0], dW2, db[1], dW3, db[2]


def planted(**mistake):
    return lambda *args: residual(*args, **mistake)


def _swap_dX_dW1(*args):
    out = residual(*args)
    return (out[1], out[0]) + out[2:]


def _change(index, fn):
    """``residual`` with result ``index`` replaced by ``fn(result)``."""
    def wrong(*args):
        out = list(residual(*args))
        out[index] = fn(out[index])
        return tuple(out)
    return wrong


CATALOGUE_MLP = {
    "ex-mlp-residual": (
        checks.check_residual_mlp_backward,
        residual,
        {
            # the fan-out of A1
            "skip path missing": (planted(skip="none"), r"dW1 has wrong values: the skip path is missing"),
            "skip path only": (planted(skip="only"), r"only the skip path reached A1"),
            "skip through the mask": (planted(skip="masked"), r"bypasses the second ReLU"),
            "W2 not transposed": (planted(w2_t=False), r"dZ2 W2 instead of dZ2 W2\^T"),
            "first mask before the sum": (planted(mask1_after_sum=False),
                                          r"after the two paths are added"),
            # the masks and the layers' order
            "first mask from Z2": (planted(mask1="Z2"), r"first ReLU's mask comes from Z1"),
            "second mask from Z1": (planted(mask2="Z1"), r"second ReLU's mask comes from Z2, not from Z1"),
            "second mask from A2": (planted(mask2="A2"), r"not from A2 = A1 \+ relu\(Z2\)"),
            "no second mask": (planted(mask2="none"), r"second ReLU's mask is missing"),
            "no first mask": (planted(mask1="none"), r"first ReLU's mask is missing"),
            # the layers' inputs and a transpose the shape cannot show
            "dW2 transposed": (planted(dW2_t=True), r"dW2 is transposed.*only the values do"),
            "dW2 from Z1": (planted(in2="Z1"), r"dW2 uses Z1"),
            "dW2 from A2": (planted(in2="A2"), r"dW2 uses A2"),
            "dW3 from relu(Z2)": (planted(in3="reluZ2"), r"dW3 uses relu\(Z2\)"),
            "dW3 from A1": (planted(in3="A1"), r"dW3 uses A1"),
            # weight decay: the fan-out of each weight
            "no decay": (planted(decay=(0.0, 0.0, 0.0)),
                         r"dW3 has wrong values: the weight-decay term is missing"),
            "decay missing on W1 only": (planted(decay=(0.0, 1.0, 1.0)),
                                         r"dW1 has wrong values: the weight-decay term is missing"),
            "decay doubled": (planted(decay=(2.0, 2.0, 2.0)), r"weight-decay term is doubled"),
            "decay halved": (planted(decay=(0.5, 0.5, 0.5)), r"weight-decay term is halved"),
            "decay sign": (planted(decay=(-1.0, -1.0, -1.0)), r"weight-decay term has the wrong sign"),
            "biases decayed": (planted(bias_decay=True), r"b3 is decayed too"),
            # the general mistakes
            "dW3 transposed": (_change(5, lambda t: t.T), r"dW3 is the transpose"),
            "db3 mean": (_change(6, lambda t: t / 4), r"db3 has wrong values: an extra 1/N"),
            "order": (_swap_dX_dW1, r"wrong order.*\(dW1, dX, db1"),
            "six results": (lambda *a: residual(*a)[:6], r"tuple of 7 .* length 6"),
            "none": (lambda *a: None, r"returned None"),
            "nan": (_change(5, lambda t: t * math.nan), r"dW3 contains NaN or inf"),
            "float32": (_change(3, lambda t: t.float()), r"dW2 has dtype torch.float32"),
            "raises": (lambda dZ3, X, W1, b1, W2, b2, W3, b3, lam: dZ3 @ W3,
                       r"raised RuntimeError.*mat1 and mat2"),
        },
    ),
}


def _squeeze_N(*args):
    out = residual(*args)
    return (out[0].squeeze(0),) + out[1:]


def _squeeze_C(*args):
    out = residual(*args)
    return out[:6] + (out[6].squeeze(),)


REQUIREMENTS_MLP = {  # name: (checker, wrong solution violating only it, regex of the diagnosis)
    "residual: N = 1": (checks.check_residual_mlp_backward, _squeeze_N, r"N = 1"),
    "residual: C = 1": (checks.check_residual_mlp_backward, _squeeze_C, r"C = 1"),
}
