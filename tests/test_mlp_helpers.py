"""Tests for the MLP helpers (chapter 7): relu, relu_vjp, softmax cross-entropy and its
VJP (helpers/layers.py), and helpers/mlp.py, including the residual network of the
exercise ex-mlp-residual. Every closed form is replayed against torch autograd and
against central differences (helpers.numerical_jacobian)."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import helpers  # noqa: E402
from helpers import (  # noqa: E402
    accuracy,
    init_mlp,
    mlp_backward,
    mlp_forward,
    mse_loss,
    mse_loss_vjp,
    numerical_jacobian,
    relu,
    relu_vjp,
    residual_mlp_backward,
    softmax_cross_entropy,
    softmax_cross_entropy_vjp,
    two_moons,
)
from helpers.exercises import EXERCISES, check_residual_mlp_backward  # noqa: E402
from helpers.mlp import PARAM_NAMES, plot_decision_boundary, residual_mlp_forward  # noqa: E402

F64 = torch.float64
SETTINGS = settings(max_examples=25, deadline=None)
size = st.integers(min_value=1, max_value=4)
seed = st.integers(min_value=0, max_value=2**31 - 1)


def randn(gen: torch.Generator, *shape) -> torch.Tensor:
    return torch.randn(tuple(shape), generator=gen, dtype=F64)


def away_from_zero(gen: torch.Generator, *shape) -> torch.Tensor:
    """Random values with |z| >= 0.1, so central differences never straddle ReLU's kink."""
    z = randn(gen, *shape)
    return torch.sign(z + (z == 0)) * (0.1 + z.abs())


def numerical_vjp(f, x: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """contract(G, numerical Jacobian): the VJP by central differences."""
    J = numerical_jacobian(f, x)
    return helpers.contract(G, J)


# --------------------------------------------------------------------------- relu, relu_vjp

@SETTINGS
@given(shape=st.lists(size, min_size=0, max_size=4), s=seed)
def test_relu_vjp_matches_autograd_any_shape(shape, s):
    gen = torch.Generator().manual_seed(s)
    Z, G = randn(gen, *shape), randn(gen, *shape)
    Zr = Z.clone().requires_grad_()
    (expected,) = torch.autograd.grad(torch.relu(Zr), Zr, grad_outputs=G)
    torch.testing.assert_close(relu_vjp(G, Z), expected, rtol=0, atol=0)


@SETTINGS
@given(shape=st.lists(size, min_size=1, max_size=3), s=seed)
def test_relu_vjp_matches_finite_differences(shape, s):
    gen = torch.Generator().manual_seed(s)
    Z, G = away_from_zero(gen, *shape), randn(gen, *shape)
    torch.testing.assert_close(relu_vjp(G, Z), numerical_vjp(relu, Z, G), rtol=1e-7, atol=1e-8)


def test_relu_derivative_at_zero_is_zero_like_autograd():
    Z = torch.tensor([[-1.0, 0.0, 2.0]], dtype=F64)
    G = torch.tensor([[5.0, 7.0, 11.0]], dtype=F64)
    Zr = Z.clone().requires_grad_()
    (via_helper_relu,) = torch.autograd.grad(relu(Zr), Zr, grad_outputs=G)
    expected = torch.tensor([[0.0, 0.0, 11.0]], dtype=F64)
    torch.testing.assert_close(relu_vjp(G, Z), expected, rtol=0, atol=0)
    torch.testing.assert_close(via_helper_relu, expected, rtol=0, atol=0)


def test_relu_vjp_ignores_inf_where_masked_like_autograd():
    Z = torch.tensor([-1.0, 3.0], dtype=F64)
    G = torch.tensor([float("inf"), 2.0], dtype=F64)
    Zr = Z.clone().requires_grad_()
    (expected,) = torch.autograd.grad(torch.relu(Zr), Zr, grad_outputs=G)
    torch.testing.assert_close(relu_vjp(G, Z), expected, rtol=0, atol=0)


def test_relu_vjp_keeps_float32():
    Z = torch.randn(3, 2)
    assert relu_vjp(torch.ones(3, 2), Z).dtype == torch.float32


def test_relu_vjp_shape_error_names_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(3, 2\)"):
        relu_vjp(torch.zeros(2, 3), torch.zeros(3, 2))


# ------------------------------------------------------------- softmax cross-entropy + VJP

@SETTINGS
@given(N=st.integers(1, 5), C=st.integers(1, 5), s=seed)
def test_softmax_cross_entropy_matches_torch(N, C, s):
    gen = torch.Generator().manual_seed(s)
    logits = 3 * randn(gen, N, C)
    labels = torch.randint(0, C, (N,), generator=gen)
    torch.testing.assert_close(softmax_cross_entropy(logits, labels),
                               F.cross_entropy(logits, labels))


@SETTINGS
@given(N=st.integers(1, 5), C=st.integers(1, 5), s=seed)
def test_softmax_cross_entropy_vjp_matches_autograd(N, C, s):
    gen = torch.Generator().manual_seed(s)
    logits = 3 * randn(gen, N, C)
    labels = torch.randint(0, C, (N,), generator=gen)
    lr = logits.clone().requires_grad_()
    (expected,) = torch.autograd.grad(F.cross_entropy(lr, labels), lr)
    torch.testing.assert_close(softmax_cross_entropy_vjp(logits, labels), expected)


@SETTINGS
@given(N=st.integers(1, 4), C=st.integers(1, 4), s=seed)
def test_softmax_cross_entropy_vjp_matches_finite_differences(N, C, s):
    gen = torch.Generator().manual_seed(s)
    logits = randn(gen, N, C)
    labels = torch.randint(0, C, (N,), generator=gen)
    numeric = numerical_jacobian(lambda Z: softmax_cross_entropy(Z, labels), logits)
    torch.testing.assert_close(softmax_cross_entropy_vjp(logits, labels), numeric,
                               rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("big", [1000.0, -1000.0])
def test_softmax_cross_entropy_is_stable_for_huge_logits(big):
    logits = torch.tensor([[big, -big, 0.0], [0.0, big, big]], dtype=F64)
    labels = torch.tensor([1, 2])
    loss = softmax_cross_entropy(logits, labels)
    grad = softmax_cross_entropy_vjp(logits, labels)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    lr = logits.clone().requires_grad_()
    ref = F.cross_entropy(lr, labels)
    (ref_grad,) = torch.autograd.grad(ref, lr)
    torch.testing.assert_close(loss, ref.detach())
    torch.testing.assert_close(grad, ref_grad)


def test_softmax_cross_entropy_huge_logits_exact_values():
    logits = torch.tensor([[1000.0, -1000.0]], dtype=F64)
    # right class with margin 2000: loss 0, gradient 0; wrong class: loss 2000, gradient (1, -1)
    torch.testing.assert_close(softmax_cross_entropy(logits, torch.tensor([0])),
                               torch.tensor(0.0, dtype=F64))
    torch.testing.assert_close(softmax_cross_entropy(logits, torch.tensor([1])),
                               torch.tensor(2000.0, dtype=F64))
    torch.testing.assert_close(softmax_cross_entropy_vjp(logits, torch.tensor([1])),
                               torch.tensor([[1.0, -1.0]], dtype=F64))


def test_softmax_cross_entropy_vjp_rows_sum_to_zero():
    gen = torch.Generator().manual_seed(3)
    logits = randn(gen, 4, 3)
    labels = torch.tensor([0, 2, 1, 2])
    torch.testing.assert_close(softmax_cross_entropy_vjp(logits, labels).sum(dim=1),
                               torch.zeros(4, dtype=F64))


@pytest.mark.parametrize("func", [softmax_cross_entropy, softmax_cross_entropy_vjp])
def test_softmax_cross_entropy_shape_errors_name_shapes(func):
    with pytest.raises(ValueError, match=r"\(6,\)"):
        func(torch.zeros(6), torch.zeros(6, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        func(torch.zeros(2, 4), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\(2, 4\)"):
        func(torch.zeros(2, 4), torch.tensor([0, 4]))


# -------------------------------------------------------------------------- mse loss + VJP

@SETTINGS
@given(shape=st.lists(size, min_size=1, max_size=3), s=seed)
def test_mse_loss_and_vjp(shape, s):
    gen = torch.Generator().manual_seed(s)
    Yhat, T = randn(gen, *shape), randn(gen, *shape)
    torch.testing.assert_close(mse_loss(Yhat, T), F.mse_loss(Yhat, T))
    Yr = Yhat.clone().requires_grad_()
    (expected,) = torch.autograd.grad(F.mse_loss(Yr, T), Yr)
    torch.testing.assert_close(mse_loss_vjp(Yhat, T), expected)
    torch.testing.assert_close(mse_loss_vjp(Yhat, T),
                               numerical_jacobian(lambda Y: mse_loss(Y, T), Yhat),
                               rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("func", [mse_loss, mse_loss_vjp])
def test_mse_shape_error_names_shapes(func):
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(2, 3\)"):
        func(torch.zeros(2, 3), torch.zeros(3, 2))


# ---------------------------------------------------------------------- helpers/mlp.py

def random_params(gen, D, H, C):
    return {"W1": randn(gen, D, H), "b1": randn(gen, H), "W2": randn(gen, H, C),
            "b2": randn(gen, C)}


def autograd_mlp(loss_of_Z2, X, params):
    leaves = {"X": X, **params}
    leaves = {k: v.clone().requires_grad_() for k, v in leaves.items()}
    Z2 = torch.relu(leaves["X"] @ leaves["W1"] + leaves["b1"]) @ leaves["W2"] + leaves["b2"]
    grads = torch.autograd.grad(loss_of_Z2(Z2), list(leaves.values()))
    return {"d" + k: g for k, g in zip(leaves, grads)}


@SETTINGS
@given(N=st.integers(1, 5), D=size, H=size, C=st.integers(1, 4), s=seed)
def test_mlp_forward_backward_match_autograd(N, D, H, C, s):
    gen = torch.Generator().manual_seed(s)
    X = randn(gen, N, D)
    params = random_params(gen, D, H, C)
    cache = mlp_forward(X, params)
    assert [tuple(cache[k].shape) for k in ("X", "Z1", "A1", "Z2")] == [
        (N, D), (N, H), (N, H), (N, C)]
    torch.testing.assert_close(cache["Z2"], torch.relu(X @ params["W1"] + params["b1"])
                               @ params["W2"] + params["b2"])
    labels = torch.randint(0, C, (N,), generator=gen)
    T = randn(gen, N, C)
    for loss, G in [(lambda Z: F.cross_entropy(Z, labels), softmax_cross_entropy_vjp(cache["Z2"], labels)),
                    (lambda Z: F.mse_loss(Z, T), mse_loss_vjp(cache["Z2"], T))]:
        hand = mlp_backward(G, cache, params)
        auto = autograd_mlp(loss, X, params)
        for k, expected in auto.items():
            assert hand[k].shape == expected.shape, k
            torch.testing.assert_close(hand[k], expected, msg=lambda m, k=k: f"{k}: {m}")


def test_mlp_backward_matches_finite_differences():
    gen = torch.Generator().manual_seed(7)
    N, D, H, C = 3, 2, 4, 3
    X = randn(gen, N, D)
    params = {"W1": away_from_zero(gen, D, H), "b1": away_from_zero(gen, H),
              "W2": randn(gen, H, C), "b2": randn(gen, C)}
    labels = torch.tensor([2, 0, 1])
    cache = mlp_forward(X, params)
    hand = mlp_backward(softmax_cross_entropy_vjp(cache["Z2"], labels), cache, params)
    for name in PARAM_NAMES:
        def loss_of(p, name=name):
            return softmax_cross_entropy(mlp_forward(X, {**params, name: p})["Z2"], labels)
        torch.testing.assert_close(hand["d" + name], numerical_jacobian(loss_of, params[name]),
                                   rtol=1e-6, atol=1e-8)


def test_mlp_shape_errors_name_shapes():
    params = init_mlp(2, 4, 3)
    with pytest.raises(ValueError, match=r"\(5, 3\).*\(\*, 2\)"):
        mlp_forward(torch.zeros(5, 3, dtype=F64), params)
    with pytest.raises(ValueError, match=r"b1 has shape \(3,\), expected \(4,\)"):
        mlp_forward(torch.zeros(5, 2, dtype=F64), {**params, "b1": torch.zeros(3, dtype=F64)})
    with pytest.raises(ValueError, match=r"W2 has shape \(5, 3\), expected \(4, \*\)"):
        mlp_forward(torch.zeros(5, 2, dtype=F64), {**params, "W2": torch.zeros(5, 3, dtype=F64)})
    with pytest.raises(ValueError, match="missing"):
        mlp_forward(torch.zeros(5, 2, dtype=F64), {"W1": params["W1"]})
    cache = mlp_forward(torch.zeros(5, 2, dtype=F64), params)
    with pytest.raises(ValueError, match=r"dZ2 has shape \(5, 2\), expected \(5, 3\)"):
        mlp_backward(torch.zeros(5, 2, dtype=F64), cache, params)


def test_init_mlp_is_seeded_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b, c = init_mlp(3, 5, 2, seed=1), init_mlp(3, 5, 2, seed=1), init_mlp(3, 5, 2, seed=2)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert {k: tuple(v.shape) for k, v in a.items()} == {
        "W1": (3, 5), "b1": (5,), "W2": (5, 2), "b2": (2,)}
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["W1"], c["W1"])
    assert all(v.dtype == F64 for v in a.values())
    with pytest.raises(ValueError, match="H must be"):
        init_mlp(3, 0, 2)


@pytest.mark.parametrize("n", [2, 7, 200])
def test_two_moons_shapes_balance_and_seed(n):
    X, labels = two_moons(n, seed=4)
    X2, labels2 = two_moons(n, seed=4)
    X3, _ = two_moons(n, seed=5)
    assert X.shape == (n, 2) and labels.shape == (n,)
    assert X.dtype == F64 and labels.dtype == torch.int64
    assert torch.bincount(labels, minlength=2).tolist() == [n // 2, n - n // 2]
    assert torch.equal(X, X2) and torch.equal(labels, labels2)
    assert not torch.equal(X, X3)


def test_two_moons_without_noise_lies_on_the_half_circles():
    X, labels = two_moons(50, noise=0.0, seed=0)
    upper, lower = X[labels == 0], X[labels == 1]
    centre = torch.tensor([1.0, 0.5], dtype=F64)
    torch.testing.assert_close(upper.norm(dim=1), torch.ones(len(upper), dtype=F64))
    torch.testing.assert_close((lower - centre).norm(dim=1), torch.ones(len(lower), dtype=F64))
    assert (upper[:, 1] >= -1e-12).all() and (lower[:, 1] <= 0.5 + 1e-12).all()


def test_two_moons_seeds_give_new_angles_not_only_new_noise():
    """A held-out draw (another seed) must not be the same points with new noise."""
    A, la = two_moons(40, noise=0.0, seed=0)
    B, lb = two_moons(40, noise=0.0, seed=1)
    for c in (0, 1):
        a, b = A[la == c], B[lb == c]
        assert torch.cdist(a, b).min() > 1e-9  # no point of one draw reappears in the other
    # the angles fill the half circle: both ends are approached, not a fixed grid
    upper = A[la == 0]
    angles = torch.atan2(upper[:, 1], upper[:, 0])
    assert float(angles.min()) < 0.5 and float(angles.max()) > math.pi - 0.5


def test_two_moons_errors():
    with pytest.raises(ValueError, match="n must be"):
        two_moons(1)
    with pytest.raises(ValueError, match="noise"):
        two_moons(10, noise=-1.0)


def test_accuracy():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0], [0.0, 1.0]], dtype=F64)
    labels = torch.tensor([0, 1, 1, 1])
    assert accuracy(logits, labels) == pytest.approx(
        float((logits.argmax(1) == labels).double().mean()))
    assert accuracy(logits, labels) == 0.75
    with pytest.raises(ValueError, match=r"\(3,\)"):
        accuracy(logits, labels[:3])


def test_plot_decision_boundary_draws_and_checks_shapes():
    X, labels = two_moons(30, seed=0)
    params = init_mlp(2, 8, 2, seed=0)
    ax = plot_decision_boundary(lambda P: mlp_forward(P, params)["Z2"], X, labels,
                                resolution=20, title="t")
    assert ax.get_title() == "t"
    assert len(ax.collections) >= 3  # regions, boundary, one scatter per class
    plt.close(ax.figure)
    with pytest.raises(ValueError, match=r"\(30, 3\)"):
        plot_decision_boundary(lambda P: P, torch.zeros(30, 3, dtype=F64), labels)


@pytest.fixture
def one_thread():
    """Tiny tensors in a loop: extra threads only add overhead (a lot, on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_training_with_the_hand_backward_learns_two_moons(one_thread):
    """A short version of chapter 7's run: 200 full-batch steps reach 95% accuracy."""
    X, labels = two_moons(200, noise=0.2, seed=0)
    theta = init_mlp(2, 16, 2, seed=0)
    for _ in range(200):
        cache = mlp_forward(X, theta)
        grads = mlp_backward(softmax_cross_entropy_vjp(cache["Z2"], labels), cache, theta)
        theta = {k: v - 1.0 * grads["d" + k] for k, v in theta.items()}
    assert accuracy(mlp_forward(X, theta)["Z2"], labels) >= 0.95


# ------------------------------------------------- the residual MLP (exercise ex-mlp-residual)

RESIDUAL_ARGS = ("X", "W1", "b1", "W2", "b2", "W3", "b3")


def residual_tensors(gen, N, D, H, C, away=False):
    r = away_from_zero if away else randn
    return {"X": randn(gen, N, D), "W1": r(gen, D, H), "b1": r(gen, H), "W2": r(gen, H, H),
            "b2": r(gen, H), "W3": randn(gen, H, C), "b3": randn(gen, C)}


def residual_loss(t: dict, T: torch.Tensor, lam: float) -> torch.Tensor:
    """Mean squared error of Z3 against T plus lam/2 times the squared norms of the weights,
    in plain torch operations (no helper)."""
    Z1 = t["X"] @ t["W1"] + t["b1"]
    A1 = torch.relu(Z1)
    A2 = A1 + torch.relu(A1 @ t["W2"] + t["b2"])
    Z3 = A2 @ t["W3"] + t["b3"]
    penalty = sum((t[w] ** 2).sum() for w in ("W1", "W2", "W3"))
    return ((Z3 - T) ** 2).mean() + lam / 2 * penalty


@SETTINGS
@given(N=st.integers(1, 5), D=size, H=size, C=st.integers(1, 4),
       lam=st.sampled_from([0.0, 0.1, 0.7]), s=seed)
def test_residual_mlp_backward_matches_autograd(N, D, H, C, lam, s):
    gen = torch.Generator().manual_seed(s)
    t = residual_tensors(gen, N, D, H, C)
    T = randn(gen, N, C)
    f = residual_mlp_forward(*(t[k] for k in RESIDUAL_ARGS))
    assert [tuple(f[k].shape) for k in ("Z1", "A1", "Z2", "A2", "Z3")] == [
        (N, H), (N, H), (N, H), (N, H), (N, C)]
    dZ3 = mse_loss_vjp(f["Z3"], T)          # the penalty does not depend on Z3
    hand = residual_mlp_backward(dZ3, *(t[k] for k in RESIDUAL_ARGS), lam)
    leaves = {k: v.clone().requires_grad_() for k, v in t.items()}
    auto = torch.autograd.grad(residual_loss(leaves, T, lam), [leaves[k] for k in RESIDUAL_ARGS])
    for name, h, a in zip(("dX", "dW1", "db1", "dW2", "db2", "dW3", "db3"), hand, auto):
        assert h.shape == a.shape, name
        torch.testing.assert_close(h, a, msg=lambda m, name=name: f"{name}: {m}")


def test_residual_mlp_backward_matches_finite_differences():
    gen = torch.Generator().manual_seed(3)
    N, D, H, C, lam = 3, 2, 4, 5, 0.3
    t = residual_tensors(gen, N, D, H, C, away=True)
    T = randn(gen, N, C)
    f = residual_mlp_forward(*(t[k] for k in RESIDUAL_ARGS))
    assert f["Z1"].abs().min() > 1e-3 and f["Z2"].abs().min() > 1e-3, "a kink within a step"
    hand = residual_mlp_backward(mse_loss_vjp(f["Z3"], T), *(t[k] for k in RESIDUAL_ARGS), lam)
    for name, h in zip(RESIDUAL_ARGS, hand):
        numeric = numerical_jacobian(lambda v, name=name: residual_loss({**t, name: v}, T, lam),
                                     t[name])
        # central differences at step 1e-6: round-off about 1e-10 for a loss near 1
        torch.testing.assert_close(h, numeric, rtol=1e-6, atol=1e-8, msg=lambda m, name=name: f"d{name}: {m}")


def test_residual_mlp_shape_errors_name_shapes():
    gen = torch.Generator().manual_seed(0)
    t = residual_tensors(gen, 3, 2, 4, 5)
    args = [t[k] for k in RESIDUAL_ARGS]
    with pytest.raises(ValueError, match=r"W2 has shape \(4, 3\), expected \(4, 4\).*square"):
        residual_mlp_forward(*args[:3], torch.zeros(4, 3, dtype=F64), *args[4:])
    with pytest.raises(ValueError, match=r"dZ3 has shape \(3, 4\), expected \(3, 5\)"):
        residual_mlp_backward(torch.zeros(3, 4, dtype=F64), *args, 0.1)
    with pytest.raises(ValueError, match=r"X has shape \(3,\) \(1 dims\)"):
        residual_mlp_backward(torch.zeros(3, 5, dtype=F64), torch.zeros(3, dtype=F64), *args[1:], 0.1)
    with pytest.raises(ValueError, match="lam must be a number >= 0"):
        residual_mlp_backward(torch.zeros(3, 5, dtype=F64), *args, -0.1)


# --------------------------------------------------------------------------- exercise check

def test_check_residual_accepts_helper_and_names_a_missing_skip(capsys):
    assert check_residual_mlp_backward(residual_mlp_backward) is True

    def no_skip(dZ3, X, W1, b1, W2, b2, W3, b3, lam):
        f = residual_mlp_forward(X, W1, b1, W2, b2, W3, b3)
        dA2 = dZ3 @ W3.T
        dZ2 = dA2 * (f["Z2"] > 0)
        dZ1 = (dZ2 @ W2.T) * (f["Z1"] > 0)            # the skip's dA2 forgotten
        return (dZ1 @ W1.T, X.T @ dZ1 + lam * W1, dZ1.sum(0), f["A1"].T @ dZ2 + lam * W2,
                dZ2.sum(0), f["A2"].T @ dZ3 + lam * W3, dZ3.sum(0))

    with pytest.raises(AssertionError, match="dW1 has wrong values: the skip path is missing"):
        check_residual_mlp_backward(no_skip)


@pytest.mark.parametrize("grader_seed", [0, 12345, 2 ** 40 + 7])
def test_residual_cases_keep_their_requirements_and_both_relu_regimes(grader_seed):
    """For any seed (the grader's is secret): N = 1 and C = 1 occur, sizes within a case
    differ, lam > 0 in most cases, and each ReLU clips some entries and passes others, so the
    mask and skip variants differ from the right answer."""
    cases = EXERCISES["ex-mlp-residual"].cases(grader_seed)
    notes = {c["note"] for c in cases}
    assert any("N = 1" in n for n in notes) and any("C = 1" in n for n in notes)
    assert sum(c["inputs"]["lam"] > 0 for c in cases) >= len(cases) - 1
    for c in cases:
        x = c["inputs"]
        N, D = x["X"].shape
        H, C = x["W3"].shape
        sizes = [v for v in (N, D, H, C) if v != 1]
        assert len(set(sizes)) == len(sizes), (N, D, H, C)
        f = residual_mlp_forward(*(x[k] for k in RESIDUAL_ARGS))
        for Z in (f["Z1"], f["Z2"]):
            assert (Z > 0).any() and (Z < 0).any()
