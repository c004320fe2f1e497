"""Tests of helpers.symbolic: the sympy derivation agrees with the closed forms and
with helpers.linear_vjp, and a wrong formula is detected."""

import pytest
import sympy as sp
import torch

from helpers import jacobian, linear, linear_vjp
from helpers.symbolic import (
    check_gradients,
    closed_form,
    dY_dentry,
    grad_as_sums,
    latex_dL_dentry,
    latex_dY_dentry,
    latex_forward,
    latex_gradient,
    linear_symbols,
    numeric_linear_vjp,
    simplifies_to,
    substitute,
    symbolic_forward,
)

F64 = torch.float64
SIZES = [(1, 1, 1), (1, 3, 2), (2, 2, 3), (3, 2, 1), (2, 3, 4), (3, 3, 3)]


def _rand(*shape, seed=0):
    return torch.randn(*shape, dtype=F64, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("N,D,M", SIZES)
def test_sums_simplify_to_closed_forms(N, D, M):
    S = linear_symbols(N, D, M)
    for name in ("X", "W", "b"):
        sums, closed = grad_as_sums(S, name), closed_form(S, name)
        assert sums.shape == S.var(name).shape
        assert simplifies_to(sums, closed), name
    assert check_gradients(S) is True


@pytest.mark.parametrize("N,D,M", SIZES)
def test_substitution_equals_linear_vjp(N, D, M):
    G, X, W = _rand(N, M, seed=1), _rand(N, D, seed=2), _rand(D, M, seed=3)
    got = numeric_linear_vjp(G, X, W)
    for g, e, shape in zip(got, linear_vjp(G, X, W), [(N, D), (D, M), (M,)]):
        assert g.dtype == F64 and tuple(g.shape) == shape
        torch.testing.assert_close(g, e)


def test_substitution_accepts_float32():
    G, X, W = _rand(2, 4).float(), _rand(2, 3).float(), _rand(3, 4).float()
    for g, e in zip(numeric_linear_vjp(G, X, W), linear_vjp(G.double(), X.double(), W.double())):
        torch.testing.assert_close(g, e)


def test_forward_and_dY_dentry_match_torch():
    N, D, M = 2, 3, 4
    S = linear_symbols(N, D, M)
    X, W, b = _rand(N, D, seed=4), _rand(D, M, seed=5), _rand(M, seed=6)
    Y = substitute(symbolic_forward(S), S, X=X, W=W, b=b)
    torch.testing.assert_close(Y, linear(X, W, b))
    J_X = jacobian(lambda X_: linear(X_, W, b), X)
    J_W = jacobian(lambda W_: linear(X, W_, b), W)
    J_b = jacobian(lambda b_: linear(X, W, b_), b)
    torch.testing.assert_close(substitute(dY_dentry(S, "X", (1, 2)), S, W=W), J_X[:, :, 1, 2])
    torch.testing.assert_close(substitute(dY_dentry(S, "W", (2, 1)), S, X=X), J_W[:, :, 2, 1])
    torch.testing.assert_close(substitute(dY_dentry(S, "b", 3), S), J_b[:, :, 3])


def test_dY_dx11_is_first_row_of_W():
    S = linear_symbols(2, 2, 3)
    expected = sp.Matrix([list(S.W.row(0)), [0, 0, 0]])
    assert dY_dentry(S, "X", (0, 0)) == expected


def test_wrong_formula_detected():
    # seed 000's swap: X^T G named dL/dX. Square sizes: same shape, wrong values.
    S = linear_symbols(3, 3, 3)
    assert simplifies_to(grad_as_sums(S, "X"), S.X.T * S.G) is False
    assert simplifies_to(grad_as_sums(S, "W"), S.G * S.W.T) is False
    # a missing transpose: G W instead of G W^T
    assert simplifies_to(grad_as_sums(S, "X"), S.G * S.W) is False
    # non-square sizes: the shapes differ and the message names them
    S = linear_symbols(2, 3, 4)
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(2, 3\)"):
        simplifies_to(S.X.T * S.G, grad_as_sums(S, "X"))


def test_check_gradients_raises_on_wrong_closed_form(monkeypatch):
    import helpers.symbolic as sym

    S = linear_symbols(2, 3, 2)
    def wrong(S, name):  # dL/dW off by a factor 2, the others right
        return 2 * S.X.T * S.G if name == "W" else closed_form(S, name)

    monkeypatch.setattr(sym, "closed_form", wrong)
    with pytest.raises(AssertionError, match="dL/dW"):
        sym.check_gradients(S)


@pytest.mark.parametrize("sizes", [(0, 2, 3), (2, -1, 3), (2, 2, 10), (2.0, 2, 3), (True, 2, 2)])
def test_bad_sizes_raise(sizes):
    with pytest.raises(ValueError, match=r"\(N, D, M\)"):
        linear_symbols(*sizes)


def test_bad_shapes_raise_naming_shapes():
    # G (3, 4), X (3, 2), W (3, 4): W should be (2, 4)
    with pytest.raises(ValueError, match=r"W has shape \(3, 4\), expected \(2, 4\)"):
        numeric_linear_vjp(_rand(3, 4), _rand(3, 2), _rand(3, 4))
    S = linear_symbols(2, 3, 4)
    with pytest.raises(ValueError, match=r"G has shape \(3, 3\), expected \(2, 4\)"):
        substitute(closed_form(S, "W"), S, X=_rand(2, 3), G=_rand(3, 3))
    with pytest.raises(ValueError, match="no value given"):
        substitute(closed_form(S, "W"), S, X=_rand(2, 3))
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        dY_dentry(S, "X", (2, 0))
    with pytest.raises(ValueError, match="variable"):
        grad_as_sums(S, "Y")


def test_latex_is_generated_from_the_objects():
    S = linear_symbols(2, 2, 3)
    assert latex_dY_dentry(S, "X", (0, 0)) == (
        r"\frac{\partial Y}{\partial x_{11}} = "
        r"\begin{pmatrix}w_{11} & w_{12} & w_{13}\\0 & 0 & 0\end{pmatrix}"
    )
    assert latex_dL_dentry(S, "X", (0, 0)).endswith(
        r"&= g_{11} w_{11} + g_{12} w_{12} + g_{13} w_{13}\end{aligned}")
    assert latex_gradient(S, "X").endswith(r"= G W^{\top}\end{aligned}")
    assert latex_gradient(S, "W").endswith(r"= X^{\top} G\end{aligned}")
    assert r"g_{11} + g_{21}" in latex_gradient(S, "b")
    assert latex_forward(S).startswith(r"\begin{aligned}Y &= XW + b\\ &= \begin{pmatrix}b_{1} + ")


@pytest.mark.parametrize("N,D,M", [(1, 1, 1), (2, 2, 3), (3, 2, 4), (2, 4, 1)])
def test_delta_forms_are_the_derivatives(N, D, M):
    from helpers.symbolic import check_deltas, delta_entries, derivative_entries

    S = linear_symbols(N, D, M)
    assert check_deltas(S) is True
    assert len(derivative_entries(S, "X")) == N * M * N * D
    assert len(derivative_entries(S, "W")) == N * M * D * M
    assert len(derivative_entries(S, "b")) == N * M * M
    # the delta forms agree with the numeric explicit Jacobian too
    X, W, b = _rand(N, D, seed=7), _rand(D, M, seed=8), _rand(M, seed=9)
    J_X = jacobian(lambda X_: linear(X_, W, b), X)
    for (n, m, p, d), expr in delta_entries(S, "X").items():
        value = float(expr.subs({S.W[i, j]: float(W[i, j]) for i in range(D) for j in range(M)}))
        assert value == pytest.approx(float(J_X[n, m, p, d]), abs=1e-12)


def test_check_deltas_detects_a_wrong_delta(monkeypatch):
    import helpers.symbolic as sym

    S = linear_symbols(2, 3, 2)
    real = sym.delta_entries

    def wrong(S, name):  # the delta dropped: w_dm for every example, not only n = p
        out = real(S, name)
        if name == "X":
            out = {k: S.W[k[3], k[1]] for k in out}
        return out

    monkeypatch.setattr(sym, "delta_entries", wrong)
    with pytest.raises(AssertionError, match="dy/dX"):
        sym.check_deltas(S)
