"""Unit tests of the helpers' public contract, replayed against torch autograd and
central differences over random shapes (hypothesis), including the shapes that break
naive code: N=1, M=1, D=1 and zero to two extra leading dims."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import helpers
from helpers import (
    compare,
    contract,
    flatten_jacobian,
    jacobian,
    linear,
    linear_vjp,
    nn_linear_vjp,
    numerical_jacobian,
)

F64 = torch.float64
SETTINGS = settings(max_examples=25, deadline=None)

dims = st.integers(min_value=1, max_value=4)
leading = st.lists(st.integers(min_value=1, max_value=3), min_size=0, max_size=2)
seeds = st.integers(min_value=0, max_value=2**31 - 1)


def rand(gen, *shape, dtype=F64):
    return torch.randn(tuple(shape), generator=gen, dtype=dtype)


def kron(A, B):
    """Kronecker product by broadcasting. (torch.kron in torch 2.13 raises on some
    non-contiguous inputs, e.g. W.T with D=1, whose .contiguous() is a no-op.)"""
    (a0, a1), (b0, b1) = A.shape, B.shape
    return (A[:, None, :, None] * B[None, :, None, :]).reshape(a0 * b0, a1 * b1)


def autograd_linear(G, X, W, b):
    """dL/dX, dL/dW, dL/db by torch autograd for L = sum(G * (X W + b))."""
    X, W, b = (t.detach().clone().requires_grad_(True) for t in (X, W, b))
    (X @ W + b).backward(G)
    return X.grad, W.grad, b.grad


# --- linear and linear_vjp ------------------------------------------------------------

@SETTINGS
@given(lead=leading, N=dims, D=dims, M=dims, seed=seeds)
def test_linear_vjp_matches_autograd(lead, N, D, M, seed):
    gen = torch.Generator().manual_seed(seed)
    batch = tuple(lead) + (N,)
    X, W, b, G = rand(gen, *batch, D), rand(gen, D, M), rand(gen, M), rand(gen, *batch, M)
    torch.testing.assert_close(linear(X, W, b), X @ W + b)
    for got, want in zip(linear_vjp(G, X, W), autograd_linear(G, X, W, b)):
        torch.testing.assert_close(got, want)


@SETTINGS
@given(N=dims, D=dims, M=dims, seed=seeds)
def test_linear_vjp_matches_explicit_jacobians(N, D, M, seed):
    gen = torch.Generator().manual_seed(seed)
    X, W, b, G = rand(gen, N, D), rand(gen, D, M), rand(gen, M), rand(gen, N, M)
    dX, dW, db = linear_vjp(G, X, W)
    J_X = numerical_jacobian(lambda X_: linear(X_, W, b), X)
    J_W = numerical_jacobian(lambda W_: linear(X, W_, b), W)
    J_b = numerical_jacobian(lambda b_: linear(X, W, b_), b)
    assert J_X.shape == (N, M, N, D) and J_W.shape == (N, M, D, M) and J_b.shape == (N, M, M)
    torch.testing.assert_close(contract(G, J_X), dX, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(contract(G, J_W), dW, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(contract(G, J_b), db, rtol=1e-6, atol=1e-7)


@SETTINGS
@given(lead=leading, N=dims, D=dims, M=dims, seed=seeds)
def test_nn_linear_vjp_matches_torch_nn_linear(lead, N, D, M, seed):
    gen = torch.Generator().manual_seed(seed)
    layer = torch.nn.Linear(D, M, dtype=F64)
    with torch.no_grad():
        layer.weight.copy_(rand(gen, M, D))
        layer.bias.copy_(rand(gen, M))
    batch = tuple(lead) + (N,)
    X = rand(gen, *batch, D).requires_grad_(True)
    G = rand(gen, *batch, M)
    layer(X).backward(G)
    dX, dweight, dbias = nn_linear_vjp(G, X.detach(), layer.weight.detach())
    torch.testing.assert_close(dX, X.grad)
    torch.testing.assert_close(dweight, layer.weight.grad)
    torch.testing.assert_close(dbias, layer.bias.grad)


def test_linear_vjp_accepts_float32():
    gen = torch.Generator().manual_seed(0)
    X, W, G = (rand(gen, *s, dtype=torch.float32) for s in ((3, 2), (2, 4), (3, 4)))
    dX, dW, db = linear_vjp(G, X, W)
    assert dX.dtype == dW.dtype == db.dtype == torch.float32
    torch.testing.assert_close(dW, X.T @ G)


def test_missing_transpose_is_not_hidden_by_square_shapes():
    """The swapped formulas of seed 000 fail on non-square sizes (they may even run)."""
    gen = torch.Generator().manual_seed(1)
    X, W, G = rand(gen, 3, 3), rand(gen, 3, 3), rand(gen, 3, 3)
    dX, dW, _ = linear_vjp(G, X, W)
    assert not torch.allclose(X.T @ G, dX)
    assert not torch.allclose(G @ W.T, dW)


# --- shape errors ------------------------------------------------------------------------

@pytest.mark.parametrize(
    "call, fragments",
    [
        (lambda: linear(torch.zeros(2, 3), torch.zeros(4, 5)), ["X", "(2, 3)", "(2, 4)"]),
        (lambda: linear(torch.zeros(2, 3), torch.zeros(3, 5), torch.zeros(4)), ["b", "(4,)", "(5,)"]),
        (lambda: linear(torch.zeros(2, 3), torch.zeros(3)), ["W", "(3,)", "2 dims"]),
        (lambda: linear_vjp(torch.zeros(2, 4), torch.zeros(2, 3), torch.zeros(3, 5)),
         ["G", "(2, 4)", "(2, 5)"]),
        (lambda: linear_vjp(torch.zeros(2, 5), torch.zeros(2, 4), torch.zeros(3, 5)),
         ["X", "(2, 4)", "(2, 3)"]),
        (lambda: nn_linear_vjp(torch.zeros(2, 4), torch.zeros(2, 5), torch.zeros(3, 5)),
         ["G", "(2, 4)", "(2, 3)"]),
        (lambda: contract(torch.zeros(2, 3), torch.zeros(3, 2, 4)), ["(2, 3)", "(3, 2, 4)"]),
        (lambda: flatten_jacobian(torch.zeros(2, 3), 3), ["out_ndim=3", "(2, 3)"]),
        (lambda: compare("x", torch.zeros(2), torch.zeros(3)), ["(2,)", "(3,)"]),
    ],
)
def test_wrong_shapes_raise_value_error_naming_the_shapes(call, fragments):
    with pytest.raises(ValueError) as info:
        call()
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


def test_non_tensor_arguments_raise_type_error():
    with pytest.raises(TypeError, match="torch.Tensor"):
        linear([[1.0]], torch.zeros(1, 1))
    with pytest.raises(TypeError, match="return a torch.Tensor"):
        jacobian(lambda x: 3.0, torch.zeros(2))


# --- jacobian, numerical_jacobian, contract ------------------------------------------------

@SETTINGS
@given(in_shape=st.lists(dims, min_size=0, max_size=3), out_shape=st.lists(dims, min_size=0, max_size=2),
       seed=seeds)
def test_jacobian_matches_torch_and_finite_differences(in_shape, out_shape, seed):
    gen = torch.Generator().manual_seed(seed)
    n_in = int(torch.tensor(in_shape).prod()) if in_shape else 1
    n_out = int(torch.tensor(out_shape).prod()) if out_shape else 1
    A = rand(gen, n_out, n_in)

    def f(x):
        return torch.tanh(A @ x.reshape(-1)).reshape(out_shape) * 2.0

    x = rand(gen, *in_shape)
    J = jacobian(f, x)
    assert J.shape == tuple(out_shape) + tuple(in_shape)
    torch.testing.assert_close(J, torch.autograd.functional.jacobian(f, x))
    torch.testing.assert_close(J, numerical_jacobian(f, x), rtol=1e-6, atol=1e-8)


def test_jacobian_of_constant_function_is_zero():
    x = torch.ones(3, dtype=F64)
    J = jacobian(lambda v: torch.ones(2, dtype=F64), x)
    assert J.shape == (2, 3) and not J.any()


def test_jacobian_keeps_float32_and_does_not_touch_input():
    x = torch.arange(3.0)
    J = jacobian(lambda v: v**2, x)
    assert J.dtype == torch.float32 and not x.requires_grad
    torch.testing.assert_close(J, torch.diag(2 * x))


def test_jacobian_is_built_without_torch_jacobian_functions(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("helpers.jacobian must be built from VJPs")

    monkeypatch.setattr(torch.autograd.functional, "jacobian", forbidden)
    monkeypatch.setattr(torch.func, "jacrev", forbidden)
    monkeypatch.setattr(torch.func, "jacfwd", forbidden)
    x = torch.randn(2, 3, dtype=F64)
    assert jacobian(torch.sin, x).shape == (2, 3, 2, 3)


def test_numerical_jacobian_is_float64_and_accurate():
    x = torch.tensor([0.3, -1.1], dtype=torch.float32)
    J = numerical_jacobian(torch.exp, x)
    assert J.dtype == F64
    torch.testing.assert_close(J, torch.diag(torch.exp(x.double())), rtol=1e-8, atol=1e-9)
    with pytest.raises(ValueError, match="h must be positive"):
        numerical_jacobian(torch.exp, x, h=0.0)


@SETTINGS
@given(out_shape=st.lists(dims, min_size=0, max_size=3), in_shape=st.lists(dims, min_size=0, max_size=2),
       seed=seeds)
def test_contract_matches_tensordot_and_einsum(out_shape, in_shape, seed):
    gen = torch.Generator().manual_seed(seed)
    G = rand(gen, *out_shape)
    J = rand(gen, *out_shape, *in_shape)
    got = contract(G, J)
    assert got.shape == tuple(in_shape)
    torch.testing.assert_close(got, torch.tensordot(G, J, dims=len(out_shape)))


# --- flatten_jacobian ----------------------------------------------------------------------

@SETTINGS
@given(N=dims, D=dims, M=dims, seed=seeds)
def test_flattened_linear_jacobians_are_kronecker_products(N, D, M, seed):
    gen = torch.Generator().manual_seed(seed)
    X, W = rand(gen, N, D), rand(gen, D, M)
    I_N, I_M = torch.eye(N, dtype=F64), torch.eye(M, dtype=F64)
    Wt = W.T
    J_X = jacobian(lambda X_: X_ @ W, X)
    J_W = jacobian(lambda W_: X @ W_, W)
    torch.testing.assert_close(flatten_jacobian(J_X, 2, "row"), kron(I_N, Wt))
    torch.testing.assert_close(flatten_jacobian(J_X, 2, "col"), kron(Wt, I_N))
    torch.testing.assert_close(flatten_jacobian(J_W, 2, "row"), kron(X, I_M))
    torch.testing.assert_close(flatten_jacobian(J_W, 2, "col"), kron(I_M, X))


def test_flatten_jacobian_rejects_unknown_order():
    with pytest.raises(ValueError, match="order"):
        flatten_jacobian(torch.zeros(2, 2), 1, "diagonal")


# --- compare -------------------------------------------------------------------------------

def test_compare_prints_and_asserts(capsys):
    a = torch.tensor([1.0, 2.0], dtype=F64)
    assert compare("same", a, a.clone()) == 0.0
    assert "exact" in capsys.readouterr().out
    compare("close", a, a + 1e-12)
    assert "close" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="wrong"):
        compare("wrong", a, a + 1.0)
    assert "WRONG" in capsys.readouterr().out


def test_public_names():
    for name in ["jacobian", "numerical_jacobian", "contract", "linear", "linear_vjp",
                 "nn_linear_vjp", "relu_vjp", "softmax_cross_entropy", "softmax_cross_entropy_vjp"]:
        assert callable(getattr(helpers, name)), name


def test_import_has_no_side_effects():
    import subprocess
    import sys

    code = (
        "import torch, matplotlib; s = torch.random.get_rng_state().clone(); "
        "rc = dict(matplotlib.rcParams); import helpers, helpers.plotting, helpers.exercises; "
        "assert torch.equal(s, torch.random.get_rng_state()); "
        "assert rc == dict(matplotlib.rcParams)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
