"""Chapter 8's judges (helpers/exercises/ch08.py), mistake by mistake (issue 22 §1, §2).

Each wrong solution below plants one classic mistake in an otherwise right VJP, written
here independently of the judge (the helpers of tests/catalogue_more.py), and must get the
diagnosis that names that mistake, not just "wrong values"; where a mistake can only be
seen on one kind of case (as many queries as keys, a variance below eps, eps passed in,
entries in no window), the diagnosis must come from that case. The right solutions pass.
"""
from __future__ import annotations

import re

import pytest
import torch

from helpers import exercises as checks
from helpers.exercises import ch08

from . import catalogue_more as cm

SQUARE = r"\[this case tests as many queries as keys \(I = S = 4\)"
TINY = r"\[this case tests a tiny variance"
EPS_ARG = r"\[this case tests eps = 1e-3 passed as an argument"


def _dbias(fn):
    return lambda G, X, w, s, p: cm.conv_right(G, X, w, s, p)[:2] + (fn(G),)


def _dweight(fn):
    def wrong(G, X, w, s, p):
        dX, dweight, dbias = cm.conv_right(G, X, w, s, p)
        return dX, fn(dweight), dbias
    return wrong


def _ln_dgamma_without_x_hat(G, X, gamma, eps):
    dX, _, dbeta = cm.ln_right(G, X, gamma, eps)
    return dX, G.reshape(-1, X.shape[-1]).sum(dim=0), dbeta


def _ln_dgamma_not_summed(G, X, gamma, eps):
    dX, _, dbeta = cm.ln_right(G, X, gamma, eps)
    x_hat = (X - X.mean(dim=-1, keepdim=True)) / torch.sqrt(
        X.var(dim=-1, unbiased=False, keepdim=True) + eps)
    return dX, G * x_hat, dbeta


def _bn_over_examples_only(which):
    """dgamma (which = 1) or dbeta (which = 2) summed over dim 0 alone, for (N, D, L_in)."""
    def wrong(G, X, gamma, eps):
        out = list(cm.bn_right(G, X, gamma, eps))
        if X.ndim == 3:
            mean = X.mean(dim=(0, 2), keepdim=True)
            x_hat = (X - mean) / torch.sqrt(((X - mean) ** 2).mean(dim=(0, 2), keepdim=True) + eps)
            out[which] = ((G * x_hat) if which == 1 else G).sum(dim=0)
        return tuple(out)
    return wrong


def _attn_dV_from_logits(G, Q, U, V):
    dQ, dU, _ = cm.attn_right(G, Q, U, V)
    Z = Q @ U.transpose(-1, -2) / Q.shape[-1] ** 0.5
    return dQ, dU, Z.transpose(-1, -2) @ G


# (checker, name, wrong solution, regex its diagnosis must match)
WRONG = [
    (checks.check_conv1d_vjp, "kernel not flipped", lambda *a: cm.conv_right(*a, flip=False),
     r"dX has wrong values: the kernel is not flipped"),
    (checks.check_conv1d_vjp, "valid correlation", lambda *a: cm.conv_right(*a, full=False),
     r"dX has (the )?wrong (values|shape).*'valid' correlation of G"),
    (checks.check_conv1d_vjp, "not cropped", lambda *a: cm.conv_right(*a, crop=False),
     r"dX has the wrong shape .*dX is not cropped.*\[this case tests padding 2"),
    (checks.check_conv1d_vjp, "cropped at one end", cm.conv_crop_one_end,
     r"dX has wrong values: dX is cropped from one end only.*\[this case tests padding 2"),
    (checks.check_conv1d_vjp, "no right pad", lambda *a: cm.conv_right(*a, right_pad=False),
     r"dX has the wrong shape .*in no window.*output_padding.*\[this case tests stride 2"),
    (checks.check_conv1d_vjp, "not dilated", lambda *a: cm.conv_right(*a, dilate=False),
     r"dX has (the )?wrong (values|shape).*G is not dilated.*\[this case tests stride 2"),
    (checks.check_conv1d_vjp, "dweight channels swapped", _dweight(lambda d: d.transpose(0, 1)),
     r"dweight has the wrong shape .*channel axes swapped"),
    (checks.check_conv1d_vjp, "dweight reversed", _dweight(lambda d: d.flip(-1)),
     r"dweight has wrong values: dweight's kernel axis is reversed"),
    (checks.check_conv1d_vjp, "dbias wrong axes", _dbias(lambda G: G.sum(dim=(0, 1))),
     r"dbias has the wrong shape .*dbias sums over the wrong axes"),
    (checks.check_conv1d_vjp, "dbias examples only", _dbias(lambda G: G.sum(dim=0)),
     r"dbias has the wrong shape .*dbias sums over the examples only"),
    (checks.check_conv1d_vjp, "dbias positions only", _dbias(lambda G: G.sum(dim=2)),
     r"dbias has the wrong shape .*dbias sums over the positions only"),
]
for checker, right in ((checks.check_layer_norm_vjp, cm.ln_right),
                       (checks.check_batch_norm_vjp, cm.bn_right)):
    WRONG += [
        (checker, "statistics constant",
         lambda *a, r=right: r(*a, mean_term=False, var_term=False),
         r"dX has wrong values: the mean and the variance are treated as constants"),
        (checker, "no variance term", lambda *a, r=right: r(*a, var_term=False),
         r"dX has wrong values: the variance's correction is missing"),
        (checker, "no mean term", lambda *a, r=right: r(*a, mean_term=False),
         r"dX has wrong values: the mean's correction is missing"),
        (checker, "gamma forgotten", lambda *a, r=right: r(*a, use_gamma=False),
         r"dX has wrong values: gamma is forgotten"),
        (checker, "unbiased variance", lambda *a, r=right: r(*a, unbiased=True),
         r"dX has wrong values: the statistics use the unbiased variance"),
        (checker, "eps outside the sqrt", lambda *a, r=right: r(*a, eps_where="outside"),
         r"dX has wrong values: eps is outside the square root"),
        (checker, "eps left out", lambda *a, r=right: r(*a, eps_where="none"),
         r"dX has wrong values: eps is left out.*" + TINY),
        (checker, "eps hard-coded", lambda *a, r=right: r(*a, eps_value=1e-5),
         r"dX has wrong values: eps is hard-coded as 1e-5.*" + EPS_ARG),
    ]
WRONG += [
    (checks.check_layer_norm_vjp, "dgamma without x_hat", _ln_dgamma_without_x_hat,
     r"dgamma has wrong values: dgamma is the sum of G alone"),
    (checks.check_batch_norm_vjp, "dgamma without x_hat",
     lambda G, X, g, e: (cm.bn_right(G, X, g, e)[0],) + (cm.bn_right(G, X, g, e)[2],) * 2,
     r"dgamma has wrong values: dgamma is the sum of G alone"),
    (checks.check_layer_norm_vjp, "dgamma not summed", _ln_dgamma_not_summed,
     r"dgamma has the wrong shape .*dgamma is not summed over the examples"),
    (checks.check_layer_norm_vjp, "dbeta not summed",
     lambda G, X, g, e: cm.ln_right(G, X, g, e)[:2] + (G,),
     r"dbeta has the wrong shape .*dbeta is not summed over the examples"),
    (checks.check_batch_norm_vjp, "layer norm instead", cm.bn_as_layer_norm,
     r"dX has wrong values: the statistics run over the features \(dim 1\): that is layer "
     r"normalization"),
    (checks.check_batch_norm_vjp, "statistics over the examples only", cm.bn_2d_only,
     r"dX has wrong values: the statistics run over the examples only.*X of shape \(N, D, L_in\)"),
    (checks.check_batch_norm_vjp, "dgamma not summed", cm.bn_dgamma_not_summed,
     r"dgamma has the wrong shape .*dgamma is not summed over the batch"),
    (checks.check_batch_norm_vjp, "dgamma summed over the examples only",
     _bn_over_examples_only(1),
     r"dgamma has the wrong shape .*dgamma is summed over the examples only.*X of shape \(N, D, L_in\)"),
    (checks.check_batch_norm_vjp, "dbeta not summed",
     lambda G, X, g, e: cm.bn_right(G, X, g, e)[:2] + (G,),
     r"dbeta has the wrong shape .*dbeta is not summed over the batch"),
    (checks.check_batch_norm_vjp, "dbeta summed over the examples only",
     _bn_over_examples_only(2),
     r"dbeta has the wrong shape .*dbeta is summed over the examples only.*X of shape \(N, D, L_in\)"),
    (checks.check_attention_vjp, "no -p p^T", lambda *a: cm.attn_right(*a, minus_ppT=False),
     r"dQ has wrong values: the softmax's -p p\^T term is forgotten"),
    (checks.check_attention_vjp, "no 1/sqrt(E)", lambda *a: cm.attn_right(*a, scale=False),
     r"dQ has wrong values: the 1/sqrt\(E\) of the scores is missing"),
    # these three keep the right shapes only when I = S: the square case must name them
    (checks.check_attention_vjp, "dQ from Q", lambda *a: cm.attn_right(*a, dQ_from_Q=True),
     r"dQ has wrong values: dQ multiplies by Q instead of U.*" + SQUARE),
    (checks.check_attention_vjp, "dU without a transpose",
     lambda *a: cm.attn_right(*a, dU_transpose=False),
     r"dU has wrong values: dU is missing a transpose.*" + SQUARE),
    (checks.check_attention_vjp, "dV without a transpose",
     lambda *a: cm.attn_right(*a, dV_transpose=False),
     r"dV has wrong values: dV is missing a transpose.*" + SQUARE),
    (checks.check_attention_vjp, "dV from the logits", _attn_dV_from_logits,
     r"dV has wrong values: dV uses the logits"),
]


@pytest.mark.parametrize("checker, right", [
    (checks.check_conv1d_vjp, cm.conv_right), (checks.check_layer_norm_vjp, cm.ln_right),
    (checks.check_batch_norm_vjp, cm.bn_right), (checks.check_attention_vjp, cm.attn_right)],
    ids=lambda v: getattr(v, "__name__", ""))
def test_the_right_solution_passes(checker, right, capsys):
    assert checker(right) is True
    assert "correct on" in capsys.readouterr().out


@pytest.mark.parametrize("checker, name, wrong, pattern", WRONG,
                         ids=[f"{c.__name__}: {n}" for c, n, _, _ in WRONG])
def test_each_planted_mistake_gets_its_diagnosis(checker, name, wrong, pattern):
    with pytest.raises(AssertionError) as info:
        checker(wrong)
    assert re.search(pattern, str(info.value)), str(info.value)


def test_dweight_from_the_unpadded_X_where_it_runs():
    """Windows of the unpadded X give G's length only when stride > 1 absorbs the padding
    (stride 3, padding 1): there the mistake runs, and the judge must name it. (On the
    padding-2 case it raises a shape error first, which the grader reports as such.)"""
    case = next(c for c in ch08._cases_conv1d(8)
                if c["inputs"]["stride"] == 3 and c["inputs"]["padding"] == 1
                and c["inputs"]["weight"].shape[-1] == 4)
    G, X, weight, stride, padding = (case["inputs"][k]
                                     for k in ("G", "X", "weight", "stride", "padding"))
    with pytest.raises(AssertionError, match="dweight is computed from the unpadded X"):
        ch08._judge_conv1d(case, cm.conv_right(G, X, weight, stride, padding, pad_X=False))


def test_the_misplaced_eps_matters_only_on_the_small_variance_cases():
    """Where var >> eps, leaving eps out moves dX by about eps / var, far below the judge's
    tolerance; on the cases built for it (a variance below eps, eps = 1e-3 with a variance
    near it) it moves dX by more than 10 %, so those cases diagnose it."""
    for cases, right in ((ch08._cases_layer_norm(9), cm.ln_right),
                         (ch08._cases_batch_norm(11), cm.bn_right)):
        rel = {}
        for c in cases:
            args = [c["inputs"][k] for k in ("G", "X", "gamma", "eps")]
            if c["inputs"]["X"].shape[-1] == 1:
                continue                   # D = 1: the variance is 0, eps left out gives inf
            good, bad = right(*args)[0], right(*args, eps_where="none")[0]
            rel[c["note"]] = float((bad - good).norm() / good.norm())
        assert rel[ch08.SMALL_VARIANCE] > 0.1 and rel[ch08.EPS_ARG] > 0.1, rel
        assert rel[""] < 1e-6, rel


def test_the_softmax_message_says_what_diag_p_is():
    """diag(p) is the softmax's Jacobian with its denominator held constant; exp's Jacobian
    is diag(e^z), so the message must not call diag(p) that."""
    gen = torch.Generator().manual_seed(0)
    Q, U, V, G = (torch.randn(*shape, generator=gen, dtype=torch.float64)
                  for shape in ((3, 2), (4, 2), (4, 5), (3, 5)))
    case = {"inputs": {"G": G, "Q": Q, "U": U, "V": V}}
    with pytest.raises(AssertionError) as info:
        ch08._judge_attention(case, cm.attn_right(G, Q, U, V, minus_ppT=False))
    text = str(info.value)
    assert "denominator held constant" in text and "exp" not in text, text


def test_the_attention_cases_include_a_square_one():
    """The variants that keep their shapes only when I = S need such a case, and the others
    need cases with I != S, where a wrong factor cannot run."""
    square = [c for c in ch08._cases_attention(10)
              if c["inputs"]["Q"].shape[-2] == c["inputs"]["U"].shape[-2]]
    assert len(square) == 1 and square[0]["note"].startswith("as many queries as keys")
    assert len(ch08._cases_attention(10)) - len(square) >= 3
