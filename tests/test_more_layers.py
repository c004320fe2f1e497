"""Chapter 8's layers and VJPs (helpers.more_layers) against PyTorch's own modules,
autograd, explicit Jacobians and float64 central differences, over random shapes
(hypothesis), including the edge sizes: a kernel as long as the input, D = 1, one query."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import contract, jacobian, numerical_jacobian
from helpers.more_layers import (attention_scores, attention_scores_vjp, conv1d, conv1d_vjp,
                                 layer_norm, layer_norm_vjp)

F64 = torch.float64
SETTINGS = settings(max_examples=25, deadline=None)
small = st.integers(min_value=1, max_value=4)
seeds = st.integers(min_value=0, max_value=2**31 - 1)


def rand(gen, *shape):
    return torch.randn(tuple(shape), generator=gen, dtype=F64)


def autograd_vjp(f, G, *inputs):
    """Gradients of sum(G * f(*inputs)) by autograd, one per input."""
    leaves = [t.detach().clone().requires_grad_(True) for t in inputs]
    f(*leaves).backward(G)
    return [t.grad for t in leaves]


# --- convolution -----------------------------------------------------------------------

@SETTINGS
@given(N=small, C=small, O=small, K=small, extra=st.integers(0, 4), seed=seeds)
def test_conv1d_matches_torch_and_autograd(N, C, O, K, extra, seed):
    gen = torch.Generator().manual_seed(seed)
    L = K + extra                                       # extra = 0: the kernel is as long as the input
    X, W, b = rand(gen, N, C, L), rand(gen, O, C, K), rand(gen, O)
    torch.testing.assert_close(conv1d(X, W, b), F.conv1d(X, W, b))
    G = rand(gen, N, O, L - K + 1)
    got = conv1d_vjp(G, X, W)
    want = autograd_vjp(lambda x, w, bb: F.conv1d(x, w, bb), G, X, W, b)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)


def test_conv1d_vjp_matches_explicit_and_numerical_jacobians():
    gen = torch.Generator().manual_seed(1)
    X, W = rand(gen, 2, 2, 5), rand(gen, 3, 2, 2)
    G = rand(gen, 2, 3, 4)
    dX, dW, _ = conv1d_vjp(G, X, W)
    for J in (jacobian(lambda x: conv1d(x, W), X), numerical_jacobian(lambda x: conv1d(x, W), X)):
        torch.testing.assert_close(contract(G, J), dX, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(contract(G, numerical_jacobian(lambda w: conv1d(X, w), W)), dW,
                               rtol=1e-6, atol=1e-8)


def test_conv1d_shape_errors_name_the_shapes():
    X, W = torch.zeros(2, 3, 5, dtype=F64), torch.zeros(4, 2, 3, dtype=F64)
    with pytest.raises(ValueError, match=r"\(4, 2, 3\).*\(4, 3, 3\)"):
        conv1d(X, W)
    with pytest.raises(ValueError, match="longer"):
        conv1d(torch.zeros(1, 1, 2, dtype=F64), torch.zeros(1, 1, 3, dtype=F64))
    with pytest.raises(ValueError, match=r"G has shape \(2, 4, 2\), expected \(2, 4, 3\)"):
        conv1d_vjp(torch.zeros(2, 4, 2, dtype=F64), X, torch.zeros(4, 3, 3, dtype=F64))
    with pytest.raises(ValueError, match="3 dims"):
        conv1d(torch.zeros(3, 5, dtype=F64), W)


# --- layer norm ------------------------------------------------------------------------

@SETTINGS
@given(lead=st.lists(st.integers(1, 3), min_size=0, max_size=2), N=small,
       D=st.integers(1, 5), seed=seeds)
def test_layer_norm_matches_torch_and_autograd(lead, N, D, seed):
    gen = torch.Generator().manual_seed(seed)
    shape = tuple(lead) + (N, D)
    X, gamma, beta, G = rand(gen, *shape), rand(gen, D), rand(gen, D), rand(gen, *shape)
    torch.testing.assert_close(layer_norm(X, gamma, beta),
                               F.layer_norm(X, (D,), gamma, beta, eps=1e-5))
    got = layer_norm_vjp(G, X, gamma)
    want = autograd_vjp(lambda x, g, bb: F.layer_norm(x, (D,), g, bb, eps=1e-5), G, X, gamma, beta)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)


def test_layer_norm_d1_has_zero_input_gradient():
    """With D = 1 every row equals its mean: the output is beta and dX is exactly 0."""
    X, gamma, beta = torch.randn(4, 1, dtype=F64), torch.ones(1, dtype=F64), torch.zeros(1, dtype=F64)
    torch.testing.assert_close(layer_norm(X, gamma, beta), torch.zeros(4, 1, dtype=F64))
    dX, _, _ = layer_norm_vjp(torch.randn(4, 1, dtype=F64), X, gamma)
    assert torch.equal(dX, torch.zeros(4, 1, dtype=F64))


def test_layer_norm_vjp_matches_numerical_jacobian():
    gen = torch.Generator().manual_seed(2)
    X, gamma, beta, G = rand(gen, 3, 4), rand(gen, 4), rand(gen, 4), rand(gen, 3, 4)
    J = numerical_jacobian(lambda x: layer_norm(x, gamma, beta), X)
    torch.testing.assert_close(contract(G, J), layer_norm_vjp(G, X, gamma)[0], rtol=1e-6, atol=1e-8)


def test_layer_norm_shape_errors():
    with pytest.raises(ValueError, match=r"gamma has shape \(3,\), expected \(4,\)"):
        layer_norm(torch.zeros(2, 4), torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match=r"G has shape \(2, 3\), expected \(2, 4\)"):
        layer_norm_vjp(torch.zeros(2, 3), torch.zeros(2, 4), torch.zeros(4))


# --- attention scores ------------------------------------------------------------------

@SETTINGS
@given(lead=st.lists(st.integers(1, 3), min_size=0, max_size=1), Nq=small, Nk=small,
       d=small, seed=seeds)
def test_attention_scores_match_sdpa_and_autograd(lead, Nq, Nk, d, seed):
    gen = torch.Generator().manual_seed(seed)
    lead = tuple(lead)
    Q, K = rand(gen, *lead, Nq, d), rand(gen, *lead, Nk, d)
    S = attention_scores(Q, K)
    # SDPA with V = identity returns exactly the attention weights
    V = torch.eye(Nk, dtype=F64).expand(*lead, Nk, Nk)
    torch.testing.assert_close(S, F.scaled_dot_product_attention(Q, K, V))
    G = rand(gen, *lead, Nq, Nk)
    got = attention_scores_vjp(G, Q, K)
    want = autograd_vjp(lambda q, k: torch.softmax(q @ k.transpose(-1, -2) / d ** 0.5, dim=-1),
                        G, Q, K)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)


def test_attention_one_query_and_one_key():
    gen = torch.Generator().manual_seed(3)
    Q, K = rand(gen, 1, 3), rand(gen, 1, 3)
    torch.testing.assert_close(attention_scores(Q, K), torch.ones(1, 1, dtype=F64))
    dQ, dK = attention_scores_vjp(rand(gen, 1, 1), Q, K)   # softmax of one entry is constant
    assert torch.equal(dQ, torch.zeros_like(Q)) and torch.equal(dK, torch.zeros_like(K))


def test_attention_vjp_matches_numerical_jacobian():
    gen = torch.Generator().manual_seed(4)
    Q, K, G = rand(gen, 2, 3), rand(gen, 4, 3), rand(gen, 2, 4)
    dQ, dK = attention_scores_vjp(G, Q, K)
    torch.testing.assert_close(contract(G, numerical_jacobian(lambda q: attention_scores(q, K), Q)),
                               dQ, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(contract(G, numerical_jacobian(lambda k: attention_scores(Q, k), K)),
                               dK, rtol=1e-6, atol=1e-8)


def test_attention_shape_errors():
    with pytest.raises(ValueError, match=r"K has shape \(4, 2\), expected \(\*, 3\)"):
        attention_scores(torch.zeros(2, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"G has shape \(2, 3\), expected \(2, 4\)"):
        attention_scores_vjp(torch.zeros(2, 3), torch.zeros(2, 3), torch.zeros(4, 3))
