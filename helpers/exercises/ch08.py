"""Chapter 8's code exercises: convolution, layer and batch normalization, attention.

The cases are pure data, the judge raises ``AssertionError`` naming the mistake, and
:func:`helpers.exercises.core.register` declares each exercise once (see :mod:`helpers.exercises`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..more_layers import attention_vjp, batch_norm_vjp, conv1d_vjp, layer_norm_vjp
from .core import (
    N1,
    Exercise,
    Policy,
    case,
    close,
    generator,
    isclose,
    rand,
    register,
    shapes,
    unpack,
)

__all__ = ["check_conv1d_vjp", "check_layer_norm_vjp", "check_batch_norm_vjp",
           "check_attention_vjp"]


# ------------------------------------------------------------------------ convolution

NO_WINDOW = "input entries in no window"


def _cases_conv1d(seed: int) -> list:
    gen = generator(seed)
    # (N, C_in, C_out, L_in, K, stride, padding): the sizes of a case, L_out =
    # (L_in + 2 padding - K) // stride + 1 included, all differ (except 1s)
    plan = [((2, 3, 4, 11, 5, 1, 0), ""),
            ((1, 1, 1, 7, 3, 1, 0), "N = 1, C_in = 1 and C_out = 1"),
            ((2, 3, 4, 9, 6, 1, 2), "padding 2 (zeros on both sides of the input)"),
            ((2, 3, 5, 15, 4, 2, 0),
             f"stride 2, with {NO_WINDOW}: (L_in + 2 padding - K) % stride = 1 > padding"),
            ((3, 2, 5, 22, 4, 3, 1),
             f"stride 3 and padding 1 together, with two {NO_WINDOW}"),
            ((4, 3, 6, 13, 2, 3, 1), "a stride larger than the kernel (stride 3, K = 2)"),
            ((2, 3, 4, 5, 9, 1, 2),
             "a kernel as long as the padded input (K = L_in + 2 padding, L_out = 1)")]
    out = []
    for (N, C_in, C_out, L_in, K, stride, padding), note in plan:
        L_out = (L_in + 2 * padding - K) // stride + 1
        X, weight = rand(gen, N, C_in, L_in), rand(gen, C_out, C_in, K)
        G = rand(gen, N, C_out, L_out)
        out.append(case({"G": G, "X": X, "weight": weight, "stride": stride, "padding": padding},
                        shapes(G=G, X=X, weight=weight) + f", stride = {stride}, padding = {padding}",
                        note))
    return out


def _windows(X: torch.Tensor, K: int, stride: int = 1) -> torch.Tensor:
    L_out = (X.shape[-1] - K) // stride + 1
    idx = stride * torch.arange(L_out)[:, None] + torch.arange(K)[None, :]
    return X[..., idx]


def _conv_dX_variants(G, X, weight, stride, padding):
    """(message, value) for the classic mistakes in dX, each computed on this case."""
    N, C_in, L_in = X.shape
    C_out, _, K = weight.shape
    L_pad = L_in + 2 * padding
    dilated = G.new_zeros(N, C_out, (G.shape[-1] - 1) * stride + 1)
    dilated[..., ::stride] = G

    def full(g, kernel):
        return torch.einsum("nmlj,mdj->ndl", _windows(F.pad(g, (K - 1, K - 1)), K), kernel)

    def finish(dXp):  # right-pad the entries in no window, crop the padding
        dXp = F.pad(dXp, (0, max(L_pad - dXp.shape[-1], 0)))
        return dXp[..., padding:padding + L_in]

    right = full(dilated, weight.flip(-1))
    out = [("the kernel is not flipped: dX is the full (true) convolution of G with the "
            "kernel, i.e. G padded with K - 1 zeros on both sides, cross-correlated with the "
            "kernel reversed, weight.flip(-1)",
            finish(full(dilated, weight)))]
    vlen = dilated.shape[-1] - K + 1
    if vlen > 0:
        valid = torch.einsum("nmlj,mdj->ndl", _windows(dilated, K), weight.flip(-1))
        msg = ("dX comes from a 'valid' correlation of G with the kernel, which is too short "
               "(L_in - K + 1 entries at stride 1): pad G with K - 1 zeros on both sides first "
               "(a full convolution)")
        out += [(msg, valid), (msg, finish(valid))]
    if padding:
        out.append(("dX is not cropped: it has the length of the padded input; drop "
                    "`padding` entries at each end (the VJP of padding is cropping)",
                    F.pad(right, (0, L_pad - right.shape[-1]))))
        out.append(("dX is cropped from one end only: drop `padding` entries at each end",
                    F.pad(right, (0, L_pad - right.shape[-1]))[..., :L_in]))
    unreached = L_pad - right.shape[-1]
    if unreached > padding:
        out.append((f"the last {unreached} entries of the padded input are in no window "
                    f"((L_in + 2 padding - K) % stride = {unreached}): their gradient is zero, "
                    f"so pad the full convolution with zeros on the right before cropping "
                    f"(this is conv_transpose1d's output_padding)",
                    right[..., padding:padding + L_in]))
    if stride > 1:
        undilated = full(G, weight.flip(-1))
        if undilated.shape[-1] <= L_pad:
            out.append(("G is not dilated: put stride - 1 zeros between consecutive entries of G "
                        "before the full convolution", finish(undilated)))
    return out


def _judge_conv1d(case, got):
    label = "ex-more-conv1d-vjp"
    G, X, weight, stride, padding = (case["inputs"][k]
                                     for k in ("G", "X", "weight", "stride", "padding"))
    expected = conv1d_vjp(G, X, weight, stride, padding)
    got = unpack(label, got, ("dX", "dweight", "dbias"), expected)
    variants_dbias = [("dbias sums over the wrong axes: sum G over the examples and the "
                       "positions (dims 0 and 2), one number per output channel",
                       G.sum(dim=(0, 1))),
                      ("dbias sums over the examples only: sum over the positions (dim 2) too",
                       G.sum(dim=0)),
                      ("dbias sums over the positions only: sum over the examples (dim 0) too",
                       G.sum(dim=2))]
    variants_dweight = [("dweight has its channel axes swapped: it is (C_out, C_in, K), "
                         "out-channels first, like weight", expected[1].transpose(0, 1)),
                        ("dweight's kernel axis is reversed: cross-correlate the padded X "
                         "with G, do not flip", expected[1].flip(-1))]
    if padding:
        K = weight.shape[-1]
        L_out = G.shape[-1]
        if (X.shape[-1] - K) // stride + 1 == L_out and X.shape[-1] >= K:
            variants_dweight.append((
                "dweight is computed from the unpadded X: its windows are those of X padded "
                "by `padding` zeros on both sides",
                torch.einsum("ndij,nmi->mdj", _windows(X, K, stride), G)))
    for what, g, e, v in zip(("dX", "dweight", "dbias"), got, expected,
                             (_conv_dX_variants(G, X, weight, stride, padding),
                              variants_dweight, variants_dbias)):
        close(label, what, g, e, variants=v, n=G.shape[0])


# ---------------------------------------------------------------------- normalization

SMALL_VARIANCE = "a tiny variance (about 1e-6, below eps = 1e-5), where the place of eps matters"
EPS_ARG = "eps = 1e-3 passed as an argument (with a variance near it)"


def _norm_dX_variants(G, X, gamma_b, eps, dims, count):
    """The classic mistakes of a normalization's dX; statistics over ``dims`` (``count``
    numbers each), ``gamma_b`` broadcast to X's shape."""
    mean = X.mean(dim=dims, keepdim=True)
    var = ((X - mean) ** 2).mean(dim=dims, keepdim=True)

    def vjp(sigma, mean_term=True, var_term=True, g=None, var_count=count):
        x_hat = (X - mean) / sigma
        g = gamma_b * G if g is None else g
        out = g
        if mean_term:
            out = out - g.mean(dim=dims, keepdim=True)
        if var_term:
            out = out - x_hat * (g * x_hat).sum(dim=dims, keepdim=True) / var_count
        return out / sigma

    sigma = torch.sqrt(var + eps)
    out = [
        ("the mean and the variance are treated as constants (gamma * G / sigma): both "
         "statistics depend on every number they are computed from, which adds two "
         "correction terms", vjp(sigma, False, False)),
        ("the variance's correction is missing: subtract x_hat * mean(gamma * G * x_hat) "
         "as well as the mean of gamma * G", vjp(sigma, var_term=False)),
        ("the mean's correction is missing: subtract mean(gamma * G)", vjp(sigma, mean_term=False)),
        ("gamma is forgotten: the upstream gradient of x_hat is gamma * G", vjp(sigma, g=G)),
        ("eps is outside the square root: sigma = sqrt(var + eps), not sqrt(var) + eps",
         vjp(torch.sqrt(var) + eps)),
        ("eps is left out: sigma = sqrt(var + eps)", vjp(torch.sqrt(var))),
    ]
    if count > 1:
        var_u = var * count / (count - 1)
        sigma_u = torch.sqrt(var_u + eps)
        x_hat_u = (X - mean) / sigma_u
        g = gamma_b * G
        out.append(("the statistics use the unbiased variance (divided by m - 1, as Bessel's "
                    "correction does); the layer normalizes with the biased one (divided by m)",
                    (g - g.mean(dim=dims, keepdim=True)
                     - x_hat_u * (g * x_hat_u).sum(dim=dims, keepdim=True) / (count - 1)) / sigma_u))
    if eps != 1e-5:
        out.append(("eps is hard-coded as 1e-5: use the eps argument",
                    vjp(torch.sqrt(var + 1e-5))))
    return out


def _cases_layer_norm(seed: int) -> list:
    gen = generator(seed)
    # (shape, eps, spread of X, note): a spread of 100 makes eps's effect on dX (relative
    # size eps / var, about 1e-9) invisible, so a misplaced eps is caught by the two cases
    # built for it (and D = 1, where the variance is 0)
    plan = [((3, 5), 1e-5, 100.0, ""), ((1, 4), 1e-5, 100.0, N1),
            ((2, 3, 4), 1e-5, 100.0, "leading dims (*, D): X of shape (2, 3, 4)"),
            ((3, 4), 1e-5, 1e-3, SMALL_VARIANCE),
            ((4, 1), 1e-5, 100.0, "D = 1 (a row that equals its mean)"),
            ((2, 6), 1e-3, 0.03, EPS_ARG)]
    out = []
    for shape, eps, spread, note in plan:
        X, G, gamma = spread * rand(gen, *shape) + 3, rand(gen, *shape), rand(gen, shape[-1])
        out.append(case({"G": G, "X": X, "gamma": gamma, "eps": eps},
                        shapes(G=G, X=X, gamma=gamma) + f", eps = {eps:g}", note))
    return out


def _dgamma_is_dbeta(label, got, expected, where):
    """Diagnose dgamma computed as dbeta (the sum of G alone) before ``unpack`` would read
    (dX, dbeta, dbeta) as results in the wrong order."""
    if (isinstance(got, (tuple, list)) and len(got) == 3
            and all(isinstance(g, torch.Tensor) for g in got)
            and isclose(got[1], expected[2]) and isclose(got[2], expected[2])
            and not isclose(expected[1], expected[2])):
        raise AssertionError(f"{label}: dgamma has wrong values: dgamma is the sum of G alone: "
                             f"it is the sum of G * x_hat {where} (gamma multiplies x_hat)")


def _judge_layer_norm(case, got):
    label = "ex-more-layer-norm-vjp"
    G, X, gamma, eps = (case["inputs"][k] for k in ("G", "X", "gamma", "eps"))
    D = X.shape[-1]
    expected = layer_norm_vjp(G, X, gamma, eps)
    _dgamma_is_dbeta(label, got, expected, "over every leading dim")
    got = unpack(label, got, ("dX", "dgamma", "dbeta"), expected)
    sigma = torch.sqrt(X.var(dim=-1, unbiased=False, keepdim=True) + eps)
    x_hat = (X - X.mean(dim=-1, keepdim=True)) / sigma
    variants_dX = _norm_dX_variants(G, X, gamma, eps, (-1,), D)
    variants_dgamma = [("dgamma is the sum of G alone: it is the sum of G * x_hat over "
                        "every leading dim", G.reshape(-1, D).sum(dim=0)),
                       ("dgamma is not summed over the examples: sum G * x_hat over every "
                        "leading dim, shape (D,)", G * x_hat)]
    variants_dbeta = [("dbeta is not summed over the examples: sum G over every leading dim, "
                       "shape (D,)", G)]
    for what, gg, e, v in zip(("dX", "dgamma", "dbeta"), got, expected,
                              (variants_dX, variants_dgamma, variants_dbeta)):
        close(label, what, gg, e, variants=v)


SPATIAL = ("X of shape (N, D, L_in), as nn.BatchNorm1d accepts: the statistics of a channel "
           "run over the examples and the positions")


def _cases_batch_norm(seed: int) -> list:
    gen = generator(seed)
    # (shape, eps, spread of X, note), as for layer normalization
    plan = [((5, 3), 1e-5, 100.0, ""), ((2, 4), 1e-5, 100.0, "N = 2, the smallest batch"),
            ((4, 3, 6), 1e-5, 100.0, SPATIAL),
            ((1, 3, 5), 1e-5, 100.0, "N = 1 with positions: X of shape (1, 3, 5)"),
            ((3, 4, 2), 1e-5, 100.0, SPATIAL + ", with L_in = 2"),
            ((6, 4), 1e-5, 1e-3, SMALL_VARIANCE),
            ((6, 2), 1e-3, 0.03, EPS_ARG)]
    out = []
    for shape, eps, spread, note in plan:
        X, G, gamma = spread * rand(gen, *shape) + 3, rand(gen, *shape), rand(gen, shape[1])
        out.append(case({"G": G, "X": X, "gamma": gamma, "eps": eps},
                        shapes(G=G, X=X, gamma=gamma) + f", eps = {eps:g}", note))
    return out


def _judge_batch_norm(case, got):
    label = "ex-more-batch-norm-vjp"
    G, X, gamma, eps = (case["inputs"][k] for k in ("G", "X", "gamma", "eps"))
    D = X.shape[1]
    expected = batch_norm_vjp(G, X, gamma, eps)
    _dgamma_is_dbeta(label, got, expected, "over the examples (and positions)")
    got = unpack(label, got, ("dX", "dgamma", "dbeta"), expected)
    dims = (0,) if X.ndim == 2 else (0, 2)
    gamma_b = gamma if X.ndim == 2 else gamma[:, None]
    count = X.numel() // D
    variants_dX = _norm_dX_variants(G, X, gamma_b, eps, dims, count)
    # the statistics over the wrong axis: layer normalization of each example's features
    variants_dX.append(("the statistics run over the features (dim 1): that is layer "
                        "normalization; batch normalization averages each feature over the "
                        "batch (dim 0)",
                        _ln_along(G, X, gamma_b, eps, 1)))
    mean = X.mean(dim=dims, keepdim=True)
    x_hat = (X - mean) / torch.sqrt(((X - mean) ** 2).mean(dim=dims, keepdim=True) + eps)
    variants_dgamma = [("dgamma is the sum of G alone: it is the sum of G * x_hat",
                        G.sum(dim=dims)),
                       ("dgamma is not summed over the batch: sum G * x_hat over the examples "
                        "(and positions), shape (D,)", G * x_hat)]
    variants_dbeta = [("dbeta is not summed over the batch: sum G over the examples (and "
                       "positions), shape (D,)", G)]
    if X.ndim == 3:
        variants_dX.append(("the statistics run over the examples only: for X of shape "
                            "(N, D, L_in) a channel's mean and variance run over the "
                            "examples and the positions (dims 0 and 2)",
                            _ln_along(G, X, gamma_b, eps, 0)))
        variants_dgamma.append(("dgamma is summed over the examples only: sum over the "
                                "positions (dim 2) too", (G * x_hat).sum(dim=0)))
        variants_dbeta.append(("dbeta is summed over the examples only: sum over the "
                               "positions (dim 2) too", G.sum(dim=0)))
    for what, gg, e, v in zip(("dX", "dgamma", "dbeta"), got, expected,
                              (variants_dX, variants_dgamma, variants_dbeta)):
        close(label, what, gg, e, variants=v, n=X.shape[0])


def _ln_along(G, X, gamma_b, eps, dim):
    """The right formula, with the statistics along ``dim`` only."""
    mean = X.mean(dim=dim, keepdim=True)
    sigma = torch.sqrt(((X - mean) ** 2).mean(dim=dim, keepdim=True) + eps)
    x_hat = (X - mean) / sigma
    g = gamma_b * G
    return (g - g.mean(dim=dim, keepdim=True)
            - x_hat * (g * x_hat).mean(dim=dim, keepdim=True)) / sigma


# ----------------------------------------------------------------------- attention

def _cases_attention(seed: int) -> list:
    gen = generator(seed)
    # (leading dims, I queries, S keys, E, E_v)
    # first as many queries as keys, where a mistake that swaps Q and U or drops a
    # transpose still runs and can be named; then non-square cases, which catch the rest
    plan = [((), 4, 4, 3, 2, "as many queries as keys (I = S = 4), where the shapes cannot "
                             "tell Q from U or P from its transpose"),
            ((), 3, 4, 2, 5, ""), ((), 1, 5, 3, 2, "a single query (I = 1)"),
            ((2,), 4, 3, 5, 6, "leading dims: Q of shape (2, 4, 5)"),
            ((), 5, 2, 4, 3, "")]
    out = []
    for lead, I, S, E, E_v, note in plan:
        Q, U, V = rand(gen, *lead, I, E), rand(gen, *lead, S, E), rand(gen, *lead, S, E_v)
        G = rand(gen, *lead, I, E_v)
        out.append(case({"G": G, "Q": Q, "U": U, "V": V}, shapes(G=G, Q=Q, U=U, V=V), note))
    return out


def _judge_attention(case, got):
    label = "ex-more-attention-vjp"
    G, Q, U, V = (case["inputs"][k] for k in ("G", "Q", "U", "V"))
    E = Q.shape[-1]
    expected = attention_vjp(G, Q, U, V)
    got = unpack(label, got, ("dQ", "dU", "dV"), expected)
    c = 1 / math.sqrt(E)
    P = torch.softmax(Q @ U.transpose(-1, -2) * c, dim=-1)
    dP = G @ V.transpose(-1, -2)
    dZ = P * (dP - (dP * P).sum(dim=-1, keepdim=True))
    diag_only = P * dP
    forgot = ("the softmax's -p p^T term is forgotten: P * dP applies only diag(p), the "
              "softmax's Jacobian with its denominator held constant; subtract each row's sum "
              "of dP * P from dP before multiplying by P")
    no_scale = "the 1/sqrt(E) of the scores is missing (it scales dQ and dU)"
    variants = [
        [(forgot, diag_only @ U * c), (no_scale, dZ @ U)],
        [(forgot, diag_only.transpose(-1, -2) @ Q * c), (no_scale, dZ.transpose(-1, -2) @ Q)],
        [("dV uses the logits: dV = P^T G with P = softmax(Q U^T / sqrt(E)), not the "
          "scores Z themselves", (Q @ U.transpose(-1, -2) * c).transpose(-1, -2) @ G)],
    ]
    if Q.shape[-2] == U.shape[-2]:  # I = S: the wrong factors have the right shapes
        variants[0].append(("dQ multiplies by Q instead of U: dQ = (dL/dZ) U / sqrt(E)",
                            dZ @ Q * c))
        variants[1].append(("dU is missing a transpose: dU = (dL/dZ)^T Q / sqrt(E), not "
                            "(dL/dZ) Q / sqrt(E)", dZ @ Q * c))
        variants[2].append(("dV is missing a transpose: dV = P^T G, not P G", P @ G))
    for what, g, e, v in zip(("dQ", "dU", "dV"), got, expected, variants):
        close(label, what, g, e, variants=v)


# ------------------------------------------------------------------------ declarations

CONV_TEXT = ("your function may use tensor arithmetic, indexing and slicing, einsum, "
             "reshape, flip, sum, zeros and torch.nn.functional.pad; not the book's helpers, "
             "torch.autograd, torch.func, .backward() or PyTorch's convolutions (conv1d, "
             "conv_transpose1d, nn.Conv1d, nn.ConvTranspose1d)")

check_conv1d_vjp = register(
    Exercise("ex-more-conv1d-vjp", "my_conv1d_vjp", "08_more_layers", "check_conv1d_vjp",
             ("G", "X", "weight", "stride", "padding"), _cases_conv1d, _judge_conv1d,
             "7 random shapes with strides 1 to 3 and paddings 0 to 2, with N = 1, "
             "C_in = C_out = 1, input entries in no window and K = L_in + 2 padding", seed=8,
             policy=Policy(allow=("@tensor",), forbidden=("conv1d", "conv_transpose1d", "Conv1d", "ConvTranspose1d",
                                      "convolution", "conv2d", "conv_transpose2d", "conv3d",
                                      "conv_tbc"),
                           text=CONV_TEXT),
             reference="conv1d_vjp"),
    doc="""\
Check ``fn(G, X, weight, stride, padding) -> (dX, dweight, dbias)`` against
:func:`helpers.more_layers.conv1d_vjp` (chapter 8).

``X`` is ``(N, C_in, L_in)``, ``weight`` is ``(C_out, C_in, K)``; cases include N = 1,
single channels, strides up to 3 (one larger than the kernel), paddings up to 2, input
entries that no window reaches and a kernel as long as the padded input. Recognises: the
kernel not flipped, a 'valid' instead of a full convolution, G not dilated, dX not
cropped or cropped from one end, the unreached entries not padded back, dweight with
swapped channel axes, a reversed kernel axis or from the unpadded X, dbias summed over
the wrong axes, results in the wrong order, wrong shape, ``None``, NaN/inf, float32, an
exception.
""")


check_layer_norm_vjp = register(
    Exercise("ex-more-layer-norm-vjp", "my_layer_norm_vjp", "08_more_layers",
             "check_layer_norm_vjp", ("G", "X", "gamma", "eps"), _cases_layer_norm,
             _judge_layer_norm, "6 random shapes, with N = 1, D = 1, leading dims, eps "
             "passed in and rows of tiny variance", seed=9,
             policy=Policy(allow=("@tensor",), forbidden=("layer_norm", "LayerNorm", "batch_norm", "group_norm"),
                           text="your function may not call the book's helpers, "
                                "layer_norm / nn.LayerNorm, torch.autograd, torch.func or "
                                ".backward()"),
             reference="layer_norm_vjp"),
    doc="""\
Check ``fn(G, X, gamma, eps) -> (dX, dgamma, dbeta)`` against
:func:`helpers.more_layers.layer_norm_vjp` (chapter 8).

Cases include N = 1, D = 1, leading dims, an eps other than the default and rows whose
variance is below eps. Recognises: the statistics treated as constants, a missing mean
or variance correction, gamma forgotten, the unbiased variance, eps outside the square
root, left out or hard-coded, dgamma without x_hat, dgamma or dbeta not summed over the
examples, results in the wrong order, wrong shape, ``None``, NaN/inf, float32, an
exception.
""")


check_batch_norm_vjp = register(
    Exercise("ex-more-batch-norm-vjp", "my_batch_norm_vjp", "08_more_layers",
             "check_batch_norm_vjp", ("G", "X", "gamma", "eps"), _cases_batch_norm,
             _judge_batch_norm, "7 random shapes, (N, D) and (N, D, L_in), with N = 2, "
             "N = 1 with positions, eps passed in and features of tiny variance", seed=11,
             policy=Policy(allow=("@tensor",), forbidden=("batch_norm", "BatchNorm1d", "BatchNorm2d", "layer_norm",
                                      "LayerNorm", "group_norm", "GroupNorm", "instance_norm",
                                      "native_batch_norm"),
                           text="your function may use tensor arithmetic, mean, sum, sqrt, "
                                "reshape, transpose and indexing; not the book's helpers, "
                                "PyTorch's normalizations (batch_norm, layer_norm, group_norm, "
                                "instance_norm and their modules), torch.autograd, torch.func "
                                "or .backward()"),
             reference="batch_norm_vjp"),
    doc="""\
Check ``fn(G, X, gamma, eps) -> (dX, dgamma, dbeta)`` against
:func:`helpers.more_layers.batch_norm_vjp` (chapter 8).

``X`` is ``(N, D)`` or ``(N, D, L_in)`` (a channel's statistics then run over the examples
and the positions); cases include N = 2, N = 1 with positions, an eps other than the
default and features whose variance is below eps. Recognises: the statistics treated as
constants, a missing mean or variance correction, gamma forgotten, the unbiased
(Bessel-corrected) variance, eps outside the square root, left out or hard-coded, the
statistics over the features (layer normalization) or over the examples only,
dgamma without x_hat, dgamma or dbeta not summed over the batch, results in the wrong
order, wrong shape, ``None``, NaN/inf, float32, an exception.
""")


check_attention_vjp = register(
    Exercise("ex-more-attention-vjp", "my_attention_vjp", "08_more_layers",
             "check_attention_vjp", ("G", "Q", "U", "V"), _cases_attention, _judge_attention,
             "5 random shapes, with a single query, leading dims and as many queries as "
             "keys", seed=10,
             policy=Policy(allow=("@tensor",), forbidden=("scaled_dot_product_attention", "MultiheadAttention",
                                      "multi_head_attention_forward"),
                           text="your function may use tensor arithmetic, @, transpose, "
                                "softmax, sum and sqrt; not the book's helpers, "
                                "scaled_dot_product_attention, nn.MultiheadAttention, "
                                "torch.autograd, torch.func or .backward()"),
             reference="attention_vjp"),
    doc="""\
Check ``fn(G, Q, U, V) -> (dQ, dU, dV)`` against :func:`helpers.more_layers.attention_vjp`
(chapter 8).

Cases include a single query, leading dims and as many queries as keys. Recognises: the
softmax's ``-p p^T`` term forgotten, a missing ``1/sqrt(E)``, dQ from Q instead of U, a
missing transpose in dU or dV, dV from the logits, results in the wrong order, wrong
shape, ``None``, NaN/inf, float32, an exception.
""")
