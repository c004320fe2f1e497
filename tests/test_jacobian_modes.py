"""Tests of helpers.jacobian_forward and helpers.jacobian_reverse (chapter 3).

Both builders are replayed against the reverse-mode builder helpers.jacobian, against
central differences, and against the product counts they promise (one JVP per input
element, one VJP per output element), on random shapes including the ones that break
naive code (a single input or output, a scalar output, leading batch dims). The counts
are made by autograd (helpers.jacobians.ProductCounter), not by the builders' loops, so
the tests below also show that a count differs when the products differ.
"""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import jacobian, jacobian_forward, jacobian_reverse, numerical_jacobian
from helpers.jacobians import ProductCounter

F64 = torch.float64
BUILDERS = [jacobian_forward, jacobian_reverse]

shape = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)


def _function(out_shape, in_shape, seed):
    """A smooth, non-linear map from in_shape to out_shape with a dense Jacobian."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(math.prod(out_shape), math.prod(in_shape), dtype=F64, generator=g)

    def f(x):
        v = x.reshape(-1)
        return (torch.tanh(A @ v) + 0.5 * (A @ (v * v))).reshape(out_shape)

    return f


@settings(max_examples=25, deadline=None)
@given(out_shape=shape, in_shape=shape, seed=st.integers(0, 2**16))
def test_both_modes_match_jacobian_and_finite_differences(out_shape, in_shape, seed):
    f = _function(out_shape, in_shape, seed)
    x = torch.randn(in_shape, dtype=F64, generator=torch.Generator().manual_seed(seed + 1))
    expected = jacobian(f, x)
    numeric = numerical_jacobian(f, x)
    for build in BUILDERS:
        J, _ = build(f, x)
        assert J.shape == out_shape + in_shape
        assert J.dtype == F64
        torch.testing.assert_close(J, expected, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(J, numeric, rtol=1e-6, atol=1e-7)


@settings(max_examples=25, deadline=None)
@given(out_shape=shape, in_shape=shape)
def test_counts_are_input_size_and_output_size(out_shape, in_shape):
    f = _function(out_shape, in_shape, 0)
    x = torch.randn(in_shape, dtype=F64)
    assert jacobian_forward(f, x)[1] == math.prod(in_shape)
    assert jacobian_reverse(f, x)[1] == math.prod(out_shape)


def test_wide_and_tall_counts():
    A = torch.randn(2, 30, dtype=F64)
    wide = lambda v: torch.tanh(A @ v)  # noqa: E731  R^30 -> R^2
    tall = lambda v: torch.tanh(A.T @ v)  # noqa: E731  R^2 -> R^30
    assert jacobian_forward(wide, torch.randn(30, dtype=F64))[1] == 30
    assert jacobian_reverse(wide, torch.randn(30, dtype=F64))[1] == 2
    assert jacobian_forward(tall, torch.randn(2, dtype=F64))[1] == 2
    assert jacobian_reverse(tall, torch.randn(2, dtype=F64))[1] == 30


def test_scalar_output_is_the_gradient():
    X = torch.randn(3, 2, dtype=F64)
    f = lambda X: (X ** 3).sum()  # noqa: E731
    for build in BUILDERS:
        J, _ = build(f, X)
        torch.testing.assert_close(J, 3 * X ** 2)


def test_linear_layer_jacobian_wrt_X():
    N, D, M = 2, 3, 4
    X, W = torch.randn(N, D, dtype=F64), torch.randn(D, M, dtype=F64)
    closed = torch.einsum("ij,lk->ikjl", torch.eye(N, dtype=F64), W)  # dY[i,k]/dX[j,l]
    for build in BUILDERS:
        J, n = build(lambda X: X @ W, X)
        torch.testing.assert_close(J, closed)
    assert jacobian_forward(lambda X: X @ W, X)[1] == N * D
    assert jacobian_reverse(lambda X: X @ W, X)[1] == N * M


def test_output_independent_of_x_gives_zeros():
    x = torch.randn(3, dtype=F64)
    const = lambda x: torch.ones(2, dtype=F64)  # noqa: E731
    for build in BUILDERS:
        J, n = build(const, x)
        assert torch.equal(J, torch.zeros(2, 3, dtype=F64))
        assert n == 0  # no product reached an output that does not depend on x


def test_float32_is_kept():
    x = torch.randn(4)
    for build in BUILDERS:
        J, _ = build(torch.sin, x)
        assert J.dtype == torch.float32
        torch.testing.assert_close(J, torch.diag(torch.cos(x)))


@pytest.mark.parametrize("build", BUILDERS)
def test_integer_input_is_rejected(build):
    with pytest.raises(TypeError, match="floating-point"):
        build(torch.sin, torch.arange(3))


@pytest.mark.parametrize("build", BUILDERS)
def test_non_tensor_input_is_rejected(build):
    with pytest.raises((TypeError, ValueError)):
        build(torch.sin, [1.0, 2.0])


def test_product_counter_counts_what_autograd_computes_not_loop_lengths():
    A = torch.randn(2, 3, dtype=F64)
    f = ProductCounter(lambda v: torch.tanh(A @ v))
    x = torch.randn(3, dtype=F64)
    torch.testing.assert_close(f(x), torch.tanh(A @ x))
    assert (f.jvps, f.vjps) == (0, 0)  # evaluating is not differentiating
    torch.func.jvp(f, (x,), (torch.ones(3, dtype=F64),))
    assert (f.jvps, f.vjps) == (1, 0)
    _, vjp_fn = torch.func.vjp(f, x)
    for _ in range(2):                  # the same VJP asked for twice counts twice
        vjp_fn(torch.ones(2, dtype=F64))
    assert (f.jvps, f.vjps) == (1, 2)
    xr = x.clone().requires_grad_()
    f(xr).sum().backward()
    assert f.vjps == 3
    f.reset()
    J = torch.func.jacrev(f)(x)         # all rows in one batched (vmap) VJP
    torch.testing.assert_close(J, jacobian(lambda v: torch.tanh(A @ v), x))
    assert (f.jvps, f.vjps) == (0, 1)
    assert repr(f) == "ProductCounter(jvps=0, vjps=1)"


def test_product_counter_rejects_non_tensor_output():
    with pytest.raises(TypeError, match="torch.Tensor"):
        ProductCounter(lambda v: 1.0)(torch.zeros(2, dtype=F64))
