"""Chapter 8's layers and VJPs (helpers.more_layers) against PyTorch's own functions,
autograd, explicit Jacobians and float64 central differences, over random shapes
(hypothesis), including the edge sizes: a kernel as long as the padded input, strides
larger than the kernel, input entries in no window, D = 1, a single query; and the
chapter 8 checkers' requirement cases, for any seed the grader may draw."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import contract, jacobian, numerical_jacobian
from helpers.exercises import EXERCISES
from helpers.more_layers import (attention, attention_vjp, attention_weights, batch_norm,
                                 batch_norm_vjp, conv1d, conv1d_vjp, layer_norm, layer_norm_vjp)

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
@given(N=small, C_in=small, C_out=small, K=small, extra=st.integers(0, 6),
       stride=st.integers(1, 4), padding=st.integers(0, 2), seed=seeds)
def test_conv1d_matches_torch_and_autograd(N, C_in, C_out, K, extra, stride, padding, seed):
    gen = torch.Generator().manual_seed(seed)
    L_in = max(K + extra - 2 * padding, 1)          # extra = 0: K = L_in + 2 padding (or longer input)
    if K > L_in + 2 * padding:
        L_in = K
    X, weight, bias = rand(gen, N, C_in, L_in), rand(gen, C_out, C_in, K), rand(gen, C_out)
    Y = conv1d(X, weight, bias, stride, padding)
    torch.testing.assert_close(Y, F.conv1d(X, weight, bias, stride=stride, padding=padding))
    G = rand(gen, *Y.shape)
    got = conv1d_vjp(G, X, weight, stride, padding)
    want = autograd_vjp(lambda x, w, b: F.conv1d(x, w, b, stride=stride, padding=padding),
                        G, X, weight, bias)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)
    r = (L_in + 2 * padding - K) % stride        # the entries in no window
    torch.testing.assert_close(got[0], F.conv_transpose1d(G, weight, stride=stride,
                                                          padding=padding, output_padding=r))


def test_conv1d_entries_in_no_window_get_zero_gradient():
    """L_in = 8, K = 3, stride 2: x_8 is in no window, its gradient is exactly 0."""
    gen = torch.Generator().manual_seed(5)
    X, weight = rand(gen, 2, 3, 8), rand(gen, 4, 3, 3)
    G = rand(gen, 2, 4, 3)
    dX = conv1d_vjp(G, X, weight, stride=2)[0]
    assert torch.equal(dX[..., 7], torch.zeros(2, 3, dtype=F64))
    torch.testing.assert_close(dX, F.conv_transpose1d(G, weight, stride=2, output_padding=1))


def test_conv1d_vjp_matches_explicit_and_numerical_jacobians():
    gen = torch.Generator().manual_seed(1)
    X, weight = rand(gen, 2, 2, 7), rand(gen, 3, 2, 3)
    for stride, padding in [(1, 0), (2, 1), (3, 2)]:
        f_X = lambda x: conv1d(x, weight, stride=stride, padding=padding)       # noqa: E731
        G = rand(gen, *f_X(X).shape)
        dX, dweight, _ = conv1d_vjp(G, X, weight, stride, padding)
        for J in (jacobian(f_X, X), numerical_jacobian(f_X, X)):
            torch.testing.assert_close(contract(G, J), dX, rtol=1e-6, atol=1e-8)
        f_w = lambda w: conv1d(X, w, stride=stride, padding=padding)           # noqa: E731
        torch.testing.assert_close(contract(G, numerical_jacobian(f_w, weight)), dweight,
                                   rtol=1e-6, atol=1e-8)


def test_conv1d_shape_errors_name_the_shapes():
    X, weight = torch.zeros(2, 3, 5, dtype=F64), torch.zeros(4, 2, 3, dtype=F64)
    with pytest.raises(ValueError, match=r"\(4, 2, 3\).*\(4, 3, 3\)"):
        conv1d(X, weight)
    with pytest.raises(ValueError, match="longer"):
        conv1d(torch.zeros(1, 1, 2, dtype=F64), torch.zeros(1, 1, 5, dtype=F64), padding=1)
    with pytest.raises(ValueError, match=r"G has shape \(2, 4, 2\), expected \(2, 4, 3\)"):
        conv1d_vjp(torch.zeros(2, 4, 2, dtype=F64), X, torch.zeros(4, 3, 3, dtype=F64))
    with pytest.raises(ValueError, match="3 dims"):
        conv1d(torch.zeros(3, 5, dtype=F64), weight)
    with pytest.raises(ValueError, match="stride must be an integer >= 1"):
        conv1d(X, torch.zeros(4, 3, 3, dtype=F64), stride=0)
    with pytest.raises(ValueError, match="padding must be an integer >= 0"):
        conv1d(X, torch.zeros(4, 3, 3, dtype=F64), padding=-1)


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


# --- batch norm ------------------------------------------------------------------------

@SETTINGS
@given(N=st.integers(1, 5), D=st.integers(1, 4), L=st.integers(0, 4), seed=seeds)
def test_batch_norm_matches_torch_and_autograd(N, D, L, seed):
    if N * max(L, 1) < 2:
        return                                   # one value per feature: PyTorch refuses too
    gen = torch.Generator().manual_seed(seed)
    shape = (N, D) if L == 0 else (N, D, L)
    X, gamma, beta, G = rand(gen, *shape), rand(gen, D), rand(gen, D), rand(gen, *shape)
    bn = lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True, eps=1e-5)  # noqa: E731
    torch.testing.assert_close(batch_norm(X, gamma, beta), bn(X, gamma, beta))
    got = batch_norm_vjp(G, X, gamma)
    for g, w in zip(got, autograd_vjp(bn, G, X, gamma, beta)):
        torch.testing.assert_close(g, w)


def test_batch_norm_is_layer_norm_of_the_transpose():
    gen = torch.Generator().manual_seed(3)
    X, G, gamma = rand(gen, 5, 3), rand(gen, 5, 3), rand(gen, 3)
    via_ln = layer_norm_vjp((G * gamma).T, X.T, torch.ones(5, dtype=F64))[0].T
    torch.testing.assert_close(batch_norm_vjp(G, X, gamma)[0], via_ln)
    J = numerical_jacobian(lambda x: batch_norm(x, gamma, torch.zeros(3, dtype=F64)), X)
    torch.testing.assert_close(contract(G, J), via_ln, rtol=1e-6, atol=1e-8)


def test_batch_norm_shape_errors():
    with pytest.raises(ValueError, match=r"gamma has shape \(3,\), expected \(4,\)"):
        batch_norm(torch.zeros(2, 4), torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match=r"more than one value per feature"):
        batch_norm(torch.zeros(1, 4), torch.zeros(4), torch.zeros(4))
    with pytest.raises(ValueError, match=r"\(N, D\) or \(N, D, L_in\)"):
        batch_norm_vjp(torch.zeros(2, 3, 4, 5), torch.zeros(2, 3, 4, 5), torch.zeros(3))


# --- attention -------------------------------------------------------------------------

@SETTINGS
@given(lead=st.lists(st.integers(1, 3), min_size=0, max_size=1), I=small, S=small,
       E=small, E_v=small, seed=seeds)
def test_attention_matches_sdpa_and_autograd(lead, I, S, E, E_v, seed):
    gen = torch.Generator().manual_seed(seed)
    lead = tuple(lead)
    Q, U, V = rand(gen, *lead, I, E), rand(gen, *lead, S, E), rand(gen, *lead, S, E_v)
    O = attention(Q, U, V)
    torch.testing.assert_close(O, F.scaled_dot_product_attention(Q, U, V))
    # SDPA with V = identity returns exactly the attention weights
    eye = torch.eye(S, dtype=F64).expand(*lead, S, S)
    torch.testing.assert_close(attention_weights(Q, U), F.scaled_dot_product_attention(Q, U, eye))
    G = rand(gen, *O.shape)
    for g, w in zip(attention_vjp(G, Q, U, V),
                    autograd_vjp(F.scaled_dot_product_attention, G, Q, U, V)):
        torch.testing.assert_close(g, w)


def test_attention_one_key():
    """One key: the weight is 1 whatever Q and U, so dQ = dU = 0 and dV = G summed."""
    gen = torch.Generator().manual_seed(3)
    Q, U, V, G = rand(gen, 2, 3), rand(gen, 1, 3), rand(gen, 1, 4), rand(gen, 2, 4)
    torch.testing.assert_close(attention_weights(Q, U), torch.ones(2, 1, dtype=F64))
    dQ, dU, dV = attention_vjp(G, Q, U, V)
    assert torch.equal(dQ, torch.zeros_like(Q)) and torch.equal(dU, torch.zeros_like(U))
    torch.testing.assert_close(dV, G.sum(dim=0, keepdim=True))


def test_attention_vjp_matches_numerical_jacobian():
    gen = torch.Generator().manual_seed(4)
    Q, U, V, G = rand(gen, 2, 3), rand(gen, 4, 3), rand(gen, 4, 5), rand(gen, 2, 5)
    dQ, dU, dV = attention_vjp(G, Q, U, V)
    for got, f, x in [(dQ, lambda q: attention(q, U, V), Q), (dU, lambda u: attention(Q, u, V), U),
                      (dV, lambda v: attention(Q, U, v), V)]:
        torch.testing.assert_close(contract(G, numerical_jacobian(f, x)), got, rtol=1e-6, atol=1e-8)


def test_attention_shape_errors():
    with pytest.raises(ValueError, match=r"U has shape \(4, 2\), expected \(\*, 3\)"):
        attention_weights(torch.zeros(2, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match=r"V has shape \(3, 5\), expected \(4, \*\)"):
        attention(torch.zeros(2, 3), torch.zeros(4, 3), torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"G has shape \(2, 4\), expected \(2, 5\)"):
        attention_vjp(torch.zeros(2, 4), torch.zeros(2, 3), torch.zeros(4, 3), torch.zeros(4, 5))


# --- the checkers' requirement cases exist for every seed -------------------------------

@pytest.mark.parametrize("seed", [0, 12345, 2 ** 40 + 7])
def test_requirement_cases_exist_for_the_graders_seeds_too(seed):
    conv = EXERCISES["ex-more-conv1d-vjp"].cases(seed)
    geo = [(c["inputs"]["X"].shape[-1], c["inputs"]["weight"].shape[-1], c["inputs"]["stride"],
            c["inputs"]["padding"]) for c in conv]
    assert any(s > 1 and (L + 2 * p - K) % s > p for L, K, s, p in geo)   # entries in no window
    assert any(p > 0 for *_, p in geo) and any(K == L + 2 * p for L, K, _, p in geo)
    assert any(s > K for _, K, s, _ in geo)
    for label in ("ex-more-layer-norm-vjp", "ex-more-batch-norm-vjp"):
        cases = EXERCISES[label].cases(seed)
        dims = -1 if label.endswith("layer-norm-vjp") else 0
        assert min(float(c["inputs"]["X"].var(dim=dims, unbiased=False).min()) for c in cases) < 1e-5
        assert any(c["inputs"]["eps"] != 1e-5 for c in cases)
    assert any(c["inputs"]["X"].ndim == 3 for c in EXERCISES["ex-more-batch-norm-vjp"].cases(seed))
    attn = EXERCISES["ex-more-attention-vjp"].cases(seed)
    assert any(c["inputs"]["Q"].shape[-2] == c["inputs"]["U"].shape[-2] for c in attn)
    assert any(c["inputs"]["Q"].shape[-2] == 1 for c in attn)
    assert any(c["inputs"]["Q"].ndim == 3 for c in attn)


@pytest.mark.parametrize("label", ["ex-more-conv1d-vjp", "ex-more-layer-norm-vjp",
                                   "ex-more-batch-norm-vjp", "ex-more-attention-vjp"])
def test_case_sizes_differ(label):
    """Within a case every size differs (1s aside), so a swapped axis cannot pass by
    accident; the one exception is attention's case with as many queries as keys, which
    is there to name the mistakes that the shapes cannot reveal."""
    for case in EXERCISES[label].cases(EXERCISES[label].seed):
        i = case["inputs"]
        if label == "ex-more-conv1d-vjp":
            sizes = [*i["X"].shape, *i["weight"].shape[::2], i["G"].shape[-1]]
        elif label == "ex-more-attention-vjp":
            if "as many queries as keys" in case["note"]:
                assert i["Q"].shape[-2] == i["U"].shape[-2]
                continue
            sizes = [*i["Q"].shape, i["U"].shape[-2], i["V"].shape[-1]]
        else:
            sizes = list(i["X"].shape)
        sizes = [s for s in sizes if s != 1]
        assert len(sizes) == len(set(sizes)), (label, case["desc"])
