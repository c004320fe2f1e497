"""Tests of helpers.widgets: the pure callbacks without a kernel, the thin wrappers, timing.

Each callback's output is compared with something computed here independently
(index formulas with einsum, torch autograd), and each built-in check is shown to
catch a deliberately wrong closed form / VJP.
"""

from __future__ import annotations

import io
import subprocess
import sys
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import helpers.mlp  # noqa: E402
import helpers.widgets as widgets  # noqa: E402
from helpers.mlp import init_mlp  # noqa: E402
from helpers.widgets import (  # noqa: E402
    ACTIVATIONS,
    MLP_LAYERS,
    elementwise_jacobian_explorer,
    elementwise_jacobian_view,
    linear_closed_form,
    linear_jacobian_explorer,
    linear_jacobian_view,
    mlp_backward_explorer,
    mlp_backward_steps,
    mlp_step_view,
)

F64 = torch.float64
SIZES = [(1, 1, 1), (2, 3, 4), (4, 1, 3), (6, 6, 6)]
WRT = ["X", "W", "b"]
ORDERS = ["row", "col"]

#: the closed forms, written out again here (not imported from the module)
FORMS = {
    ("X", "row"): r"I_N \otimes W^{\top}",
    ("W", "row"): r"X \otimes I_M",
    ("b", "row"): r"\mathbf{1}_N \otimes I_M",
    ("X", "col"): r"W^{\top} \otimes I_N",
    ("W", "col"): r"I_M \otimes X",
    ("b", "col"): r"I_M \otimes \mathbf{1}_N",
}


def _data(N, D, M, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(N, D, generator=g, dtype=F64), torch.randn(D, M, generator=g, dtype=F64),
            torch.randn(M, generator=g, dtype=F64))


def _expected_by_index(N, D, M, wrt, order, X, W):
    """The flattened Jacobian from its index formula, via einsum (no Kronecker product).

    dY[n,m]/dX[k,d] = delta(n,k) W[d,m];  dY[n,m]/dW[d,j] = X[n,d] delta(m,j);
    dY[n,m]/db[j] = delta(m,j).
    """
    I_N, I_M = torch.eye(N, dtype=F64), torch.eye(M, dtype=F64)
    if wrt == "X":
        J = torch.einsum("nk,dm->nmkd", I_N, W)           # (N, M, N, D)
    elif wrt == "W":
        J = torch.einsum("nd,mj->nmdj", X, I_M)           # (N, M, D, M)
    else:
        J = torch.einsum("n,mj->nmj", torch.ones(N, dtype=F64), I_M)  # (N, M, M)
    if order == "col":
        J = J.permute(1, 0, *reversed(range(2, J.ndim)))
    return J.reshape(N * M, -1)


def _render(fig):
    """Draw the figure as Jupyter's inline backend would (catches mathtext errors)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


# ---------------------------------------------------------------- linear layer

@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("wrt", WRT)
@pytest.mark.parametrize("N,D,M", SIZES)
def test_linear_view_matrix(N, D, M, wrt, order):
    view = linear_jacobian_view(N, D, M, wrt, order)
    X, W, _ = _data(N, D, M)
    K = {"X": N * D, "W": D * M, "b": M}[wrt]
    assert view.matrix.shape == (N * M, K)
    assert view.closed_form.shape == (N * M, K)
    expected = _expected_by_index(N, D, M, wrt, order, X, W)
    torch.testing.assert_close(view.matrix, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(view.closed_form, expected, rtol=1e-12, atol=1e-12)
    assert not plt.fignum_exists(view.fig.number), "the figure must be closed"


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("wrt", WRT)
def test_linear_view_latex_matches_choice(wrt, order):
    view = linear_jacobian_view(2, 3, 4, wrt, order)
    assert view.latex.endswith("= " + FORMS[wrt, order])
    o = "r" if order == "row" else "c"
    assert rf"\mathrm{{vec}}_{o}({wrt})" in view.latex
    # the formula printed in the figure is the same closed form
    texts = [t.get_text() for t in view.fig.texts]
    assert any(FORMS[wrt, order] in t for t in texts), texts
    _, form = linear_closed_form(wrt, order, *_data(2, 3, 4)[:2])
    assert form == FORMS[wrt, order]


def test_linear_view_renders_at_extremes():
    for N, D, M in [(1, 1, 1), (6, 6, 6)]:
        for wrt in WRT:
            for order in ORDERS:
                assert _render(linear_jacobian_view(N, D, M, wrt, order).fig)[:4] == b"\x89PNG"


def test_linear_orders_differ_only_by_permutation():
    """Row- and column-major pictures hold the same entries, permuted."""
    r = linear_jacobian_view(3, 2, 4, "W", "row").matrix
    c = linear_jacobian_view(3, 2, 4, "W", "col").matrix
    assert not torch.equal(r, c)
    assert torch.equal(r.flatten().sort().values, c.flatten().sort().values)


@pytest.mark.parametrize("wrt", WRT)
@pytest.mark.parametrize("order", ORDERS)
def test_wrong_closed_form_is_caught(monkeypatch, wrt, order):
    """The other order's formula (a classic slip) must make the redraw fail."""
    real = widgets.linear_closed_form
    other = "col" if order == "row" else "row"

    def swapped(wrt_, order_, X, W):
        return real(wrt_, other, X, W)

    monkeypatch.setattr(widgets.linear, "linear_closed_form", swapped)
    with pytest.raises(AssertionError):
        linear_jacobian_view(2, 3, 4, wrt, order)


def test_perturbed_or_misshapen_closed_form_is_caught(monkeypatch):
    real = widgets.linear_closed_form

    def perturbed(wrt, order, X, W):
        m, f = real(wrt, order, X, W)
        m = m.clone()
        m[0, 0] += 1e-6
        return m, f

    monkeypatch.setattr(widgets.linear, "linear_closed_form", perturbed)
    with pytest.raises(AssertionError):
        linear_jacobian_view(2, 3, 4, "X", "row")

    def transposed(wrt, order, X, W):       # right numbers, wrong shape
        m, f = real(wrt, order, X, W)
        return m.T, f

    monkeypatch.setattr(widgets.linear, "linear_closed_form", transposed)
    with pytest.raises(AssertionError, match="shape"):
        linear_jacobian_view(2, 3, 4, "X", "row")


@pytest.mark.parametrize("kwargs,match", [
    (dict(N=0), "N=0"), (dict(N=7), "N=7"), (dict(D=-1), "D=-1"), (dict(M=2.5), "M=2.5"),
    (dict(M=True), "M=True"), (dict(wrt="Z"), "wrt='Z'"), (dict(order="C"), "order='C'"),
])
def test_linear_view_rejects_bad_arguments(kwargs, match):
    args = dict(N=2, D=3, M=4, wrt="X", order="row") | kwargs
    with pytest.raises(ValueError, match=match):
        linear_jacobian_view(**args)


def test_linear_closed_form_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 5\)"):
        linear_closed_form("X", "row", torch.zeros(2, 3, dtype=F64), torch.zeros(4, 5, dtype=F64))


# -------------------------------------------------------- element-wise layers

@pytest.mark.parametrize("n", [1, 5, 8])
@pytest.mark.parametrize("activation", ["relu", "tanh", "sigmoid"])
def test_elementwise_view(activation, n):
    view = elementwise_jacobian_view(activation, n)
    assert view.matrix.shape == (n, n) and view.derivative.shape == (n,) and view.x.shape == (n,)
    # independently: the gradient of sum(f(z)) is f'(z) for an element-wise f
    z = view.x.clone().requires_grad_(True)
    f = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid}[activation]
    (grad,) = torch.autograd.grad(f(z).sum(), z)
    torch.testing.assert_close(view.derivative, grad)
    torch.testing.assert_close(view.matrix, torch.diag(grad))
    if activation == "relu":
        assert torch.equal(view.derivative, (view.x > 0).to(F64))
    assert not plt.fignum_exists(view.fig.number)
    _render(view.fig)


def test_elementwise_wrong_derivative_is_caught(monkeypatch):
    fn, _, latex = ACTIVATIONS["tanh"]
    monkeypatch.setitem(ACTIVATIONS, "tanh", (fn, lambda z: 1 - torch.tanh(z), latex))
    with pytest.raises(AssertionError):
        elementwise_jacobian_view("tanh", 4)


def test_elementwise_non_diagonal_is_caught(monkeypatch):
    """A function that mixes entries (not element-wise) fails the off-diagonal check."""
    mixing = (lambda z: torch.tanh(z) + 0.0 * z.sum(), ACTIVATIONS["tanh"][1], "x")
    monkeypatch.setitem(ACTIVATIONS, "tanh", mixing)
    elementwise_jacobian_view("tanh", 4)           # 0 * sum(z) adds exact zeros: still fine
    cumulative = (lambda z: torch.cumsum(torch.tanh(z), 0), ACTIVATIONS["tanh"][1], "x")
    monkeypatch.setitem(ACTIVATIONS, "tanh", cumulative)
    with pytest.raises(AssertionError, match="off-diagonal"):
        elementwise_jacobian_view("tanh", 4)


@pytest.mark.parametrize("kwargs,match", [
    (dict(n=0), "n=0"), (dict(n=9), "n=9"), (dict(activation="gelu"), "activation='gelu'"),
])
def test_elementwise_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        elementwise_jacobian_view(**(dict(activation="relu", n=3) | kwargs))


# ------------------------------------------------------------------------ MLP

@pytest.mark.parametrize("N,D,H,C", [(1, 1, 1, 1), (4, 3, 5, 3), (6, 6, 6, 6), (2, 6, 1, 4)])
def test_mlp_steps_shapes_and_values(N, D, H, C):
    steps = mlp_backward_steps(N, D, H, C)
    assert [s.layer for s in steps] == list(reversed(MLP_LAYERS))
    for s in steps:
        assert s.grad_input.shape == s.input.shape, s.layer
    assert steps[0].upstream.shape == ()
    # each upstream gradient is the gradient the previous step sent down
    for before, after in zip(steps, steps[1:]):
        assert after.upstream is before.grad_input
    shapes = [(s.upstream.shape, s.input.shape) for s in steps]
    assert shapes == [((), (N, C)), ((N, C), (N, H)), ((N, H), (N, H)), ((N, H), (N, D))]
    # independently of the module: torch.func.grad of the whole loss w.r.t. X, on the
    # same data (X and labels from a generator seeded with 0, parameters from init_mlp)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(N, D, generator=g, dtype=F64)
    labels = torch.randint(0, C, (N,), generator=g)
    p = init_mlp(D, H, C, seed=0)
    assert torch.equal(steps[-1].input, X)

    def loss(x):
        Z2 = torch.relu(x @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]
        return torch.nn.functional.cross_entropy(Z2, labels)

    torch.testing.assert_close(steps[-1].grad_input, torch.func.grad(loss)(X))
    assert set(steps[1].param_grads) == {"dW2", "db2"}
    assert set(steps[3].param_grads) == {"dW1", "db1"}


def test_mlp_wrong_vjp_is_caught(monkeypatch):
    monkeypatch.setattr(helpers.mlp, "relu_vjp", lambda G, Z: G)   # forgets the mask
    with pytest.raises(AssertionError, match="dZ1"):
        mlp_backward_steps(4, 3, 5, 3)


def test_mlp_wrong_linear_vjp_is_caught(monkeypatch):
    real = helpers.mlp.linear_vjp

    def slipped(G, X, W):  # db summed twice
        dX, dW, db = real(G, X, W)
        return dX, dW, 2 * db

    monkeypatch.setattr(helpers.mlp, "linear_vjp", slipped)
    with pytest.raises(AssertionError, match="db"):
        mlp_backward_steps(4, 3, 5, 3)


@pytest.mark.parametrize("step", [1, 2, 3, 4])
def test_mlp_step_view(step):
    view = mlp_step_view(step)
    assert view.step is view.steps[step - 1]
    assert view.step.layer == list(reversed(MLP_LAYERS))[step - 1]
    assert not plt.fignum_exists(view.fig.number)
    _render(view.fig)


@pytest.mark.parametrize("kwargs,match", [
    (dict(step=0), "step=0"), (dict(step=5), "step=5"), (dict(H=7), "H=7"), (dict(C=0), "C=0"),
])
def test_mlp_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mlp_step_view(**kwargs)


# ------------------------------------------------------------ the wrappers

def test_linear_explorer_constructs_and_updates():
    ex = linear_jacobian_explorer()
    assert ex.view.matrix.shape == (8, 6)              # default N=2, D=3, M=4, dY/dX
    assert ex.image.value.startswith("<img alt=") and "8 by 6" in ex.image.value
    ex.update(N=6, D=6, M=6)
    assert ex.view.matrix.shape == (36, 36)
    ex.update(wrt="b", order="col")
    assert ex.view.matrix.shape == (36, 6)
    assert ex.view.latex.endswith(FORMS["b", "col"])
    ex.controls["M"].value = 1                           # as a user's slider would
    assert ex.view.matrix.shape == (6, 1)
    assert "6 by 1" in ex.image.value
    bundle = ex._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"] == "LinearJacobianExplorer(N=6, D=6, M=1, wrt='b', order='col')"
    with pytest.raises(ValueError, match="'Q'"):
        ex.update(Q=1)
    assert plt.get_fignums() == []


def test_explorer_shows_a_failed_check(monkeypatch):
    ex = linear_jacobian_explorer()
    real = widgets.linear_closed_form
    monkeypatch.setattr(widgets.linear, "linear_closed_form",
                        lambda wrt, order, X, W: real(wrt, "col" if order == "row" else "row", X, W))
    with pytest.raises(AssertionError):
        ex.update(N=3)
    assert "check failed" in ex.image.value and "<img" not in ex.image.value


def test_elementwise_explorer_constructs_and_updates():
    ex = elementwise_jacobian_explorer()
    assert ex.view.matrix.shape == (5, 5)
    ex.update(activation="sigmoid", n=8)
    assert ex.view.matrix.shape == (8, 8)
    assert "sigmoid with n=8" in ex.image.value
    torch.testing.assert_close(ex.view.derivative, torch.sigmoid(ex.view.x) * (1 - torch.sigmoid(ex.view.x)))


def test_mlp_explorer_buttons():
    ex = mlp_backward_explorer()
    layers = list(reversed(MLP_LAYERS))
    assert ex.view.step.layer == layers[0]
    ex.prev_button.click()                               # already at step 1: stays
    assert ex.controls["step"].value == 1
    for k in range(1, 4):
        ex.next_button.click()
        assert ex.view.step.layer == layers[k]
    ex.next_button.click()                               # at step 4: stays
    assert ex.controls["step"].value == 4
    ex.update(step=2)
    assert ex.view.step.layer == "linear 2"
    assert "dW2 (5, 3)" in ex.image.value


# ------------------------------------------------------------ side effects

def test_no_global_state_touched():
    rng = torch.random.get_rng_state()
    rc = dict(matplotlib.rcParams)
    linear_jacobian_view(3, 2, 4, "W", "col")
    elementwise_jacobian_view("relu", 6)
    mlp_step_view(2)
    assert torch.equal(rng, torch.random.get_rng_state())
    assert dict(matplotlib.rcParams) == rc
    # and the same seed gives the same picture
    assert torch.equal(linear_jacobian_view(3, 2, 4, seed=7).matrix,
                       linear_jacobian_view(3, 2, 4, seed=7).matrix)


def test_import_has_no_side_effects():
    code = ("import torch; s = torch.random.get_rng_state(); import helpers.widgets, sys; "
            "assert torch.equal(s, torch.random.get_rng_state()); "
            "assert 'ipywidgets' not in sys.modules, 'ipywidgets imported eagerly'")
    subprocess.run([sys.executable, "-c", code], check=True)


# -------------------------------------------------------------------- timing

def _best_of(k, fn):
    """Smallest wall-clock and smallest CPU time (this process only) over k calls, in s."""
    wall, cpu = [], []
    for _ in range(k):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return min(wall), min(cpu)


def test_redraw_time_at_largest_setting():
    """Issue 8 asks for < 200 ms per redraw at 6/6/6; this loaded machine gets a loose bound.

    "callback" is the pure function (explicit Jacobian, closed form, check, figure), best
    of 2; "+png" adds rendering the PNG as Jupyter's inline backend does
    (``bbox_inches="tight"``), one run. Wall-clock time is inflated when the machine is
    shared; CPU time (this process only) estimates the time on an idle machine.
    Run with ``pytest -s`` to see the times.
    """
    linear_jacobian_view(6, 6, 6, "W", "row")            # warm caches (mathtext, fonts)
    cases = [(f"linear 6/6/6 dY/d{wrt} {order}",
              lambda wrt=wrt, order=order: linear_jacobian_view(6, 6, 6, wrt, order))
             for wrt in WRT for order in ORDERS]
    cases += [(f"element-wise {a} n=8", lambda a=a: elementwise_jacobian_view(a, 8))
              for a in ("sigmoid",)]
    cases += [(f"MLP 6/6/6/6 step {k}", lambda k=k: mlp_step_view(k, 6, 6, 6, 6))
              for k in (4,)]
    slow = []
    for name, view in cases:
        wall, cpu = _best_of(2, view)
        full_wall, full_cpu = _best_of(1, lambda: _render(view().fig))
        print(f"\nredraw {name}: callback {wall * 1e3:.0f} ms wall / {cpu * 1e3:.0f} ms CPU; "
              f"+png {full_wall * 1e3:.0f} ms wall / {full_cpu * 1e3:.0f} ms CPU", end="")
        # loose bounds (the target is 0.2 s): the linear callback in wall-clock time, as
        # the issue asks; every callback in CPU time, which the machine's load barely moves
        if (name.startswith("linear") and wall > 1.0) or cpu > 1.0 or wall > 2.0:
            slow.append(f"{name}: {wall:.2f} s wall, {cpu:.2f} s CPU")
    print()
    assert slow == [], f"redraws too slow: {slow}"


# ----------------------------------------- ipywidgets 7.7 (Colab) and 8, static frames

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
#: Colab's ipywidgets line (7.7.x) and what it imports that ipywidgets 8 dropped
IPYWIDGETS7 = ["ipywidgets==7.7.5", "widgetsnbextension==3.6.10", "jupyterlab_widgets==1.1.11",
               "ipython_genutils==0.2.0"]


def test_bundle_matches_ipywidgets8_own_view():
    """The bundle is built by hand (7.7 has no _repr_mimebundle_): same view as 8's own."""
    import html
    import json

    for ex in (linear_jacobian_explorer(), elementwise_jacobian_explorer(),
               mlp_backward_explorer(step=3)):
        ours = ex._repr_mimebundle_()
        assert ours[WIDGET_VIEW] == ex.ui._repr_mimebundle_()[WIDGET_VIEW]
        spec = json.loads(html.unescape(ours["text/html"].split('data-book-explorer="')[1]
                                        .split('"')[0]))
        assert spec["kind"] == ex.kind
        assert spec["values"] == {k: c.value for k, c in ex.controls.items()}
        assert ex.image.value in ours["text/html"]       # the current figure, for nbviewer
        # the static site's grid holds the explorer's controls, and its current value
        assert set(widgets.STATIC_GRIDS[ex.kind]) == set(ex.controls)


def _ipywidgets7_dir():
    """ipywidgets 7.7.5 installed with --target next to the venv (once), or skip."""
    import os
    from pathlib import Path

    target = Path(sys.prefix) / "ipywidgets7"
    if not (target / "ipywidgets" / "__init__.py").exists():
        r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                            "--disable-pip-version-check", "--target", str(target), *IPYWIDGETS7],
                           capture_output=True, text=True)
        if r.returncode:
            if os.environ.get("CI") == "true":
                pytest.fail(f"could not install {IPYWIDGETS7}: {r.stderr[-500:]}")
            pytest.skip(f"could not install {IPYWIDGETS7} (offline?): {r.stderr[-200:]}")
    return target


IPYWIDGETS7_SCRIPT = r"""
import ipywidgets, ipywidgets.widgets.widget as widget_module, matplotlib
matplotlib.use("Agg")
assert ipywidgets.__version__.startswith("7.7"), ipywidgets.__version__
import helpers.widgets as hw

sent = []
widget_module.display = lambda data, raw=False, **kw: sent.append(data)
for make, change, field in [
        (lambda: hw.linear_jacobian_explorer(wrt="W", order="col"), dict(N=3, wrt="b"), "matrix"),
        (lambda: hw.elementwise_jacobian_explorer(), dict(activation="tanh", n=7), "matrix"),
        (lambda: hw.mlp_backward_explorer(step=2, N=5, D=2, H=4, C=3), dict(step=4), "alt")]:
    ex = make()
    bundle = ex._repr_mimebundle_()              # what IPython calls when the cell displays it
    ex.ui._ipython_display_()                    # ipywidgets 7's own way of displaying the box
    assert bundle["application/vnd.jupyter.widget-view+json"] == \
        sent[-1]["application/vnd.jupyter.widget-view+json"], (bundle, sent[-1])
    assert ex.ui.model_id in ipywidgets.Widget.widgets
    before, alt = getattr(ex.view, field), ex.view.alt
    ex.update(**change)
    after = getattr(ex.view, field)
    assert ex.view.alt != alt and (before.shape != after.shape if field == "matrix" else True)
    assert ex.image.value.startswith("<img alt=")
ex.next_button.click()                           # at step 4 already: stays
ex.prev_button.click()
assert ex.controls["step"].value == 3 and ex.view.step.layer == "ReLU"
print("ok", ipywidgets.__version__)
"""


@pytest.mark.envs
def test_explorers_under_ipywidgets_7_7():
    """Colab ships ipywidgets 7.7.x: every explorer displays and redraws there too (another
    ipywidgets version, installed into a folder of its own: `make test-envs`)."""
    import os

    target = _ipywidgets7_dir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(target), str(widgets.__file__).rsplit("/helpers/", 1)[0],
         os.environ.get("PYTHONPATH", "")]))
    r = subprocess.run([sys.executable, "-c", IPYWIDGETS7_SCRIPT], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip() == "ok 7.7.5"


@pytest.mark.parametrize("kind", sorted(widgets.STATIC_GRIDS))
def test_static_grid_frames(kind):
    """The website's grid: bounded, and neighbouring frames differ in picture and alt text."""
    combos = widgets.static_values(kind)
    assert 1 < len(combos) <= 300
    config = {"seed": 0} if kind != "mlp" else dict(N=5, D=2, H=4, C=3, seed=0)
    a, b = combos[0], combos[-1]
    va, vb = widgets.static_view(kind, config, a), widgets.static_view(kind, config, b)
    assert va.alt != vb.alt
    assert _render(va.fig) != _render(vb.fig)
    with pytest.raises(ValueError, match="'nope'"):
        widgets.static_values("nope")


def test_site_explorer_html(tmp_path):
    """_ext/explorers.py: controls for every grid control, the initial frame, its alt text."""
    import html
    import json
    from pathlib import Path

    sys.path.insert(0, str(Path(widgets.__file__).parents[2] / "_ext"))
    try:
        import explorers
    finally:
        sys.path.pop(0)
    names = list(widgets.STATIC_GRIDS["linear"])
    alts = {explorers.frame_key(names, v): f"alt {i}"
            for i, v in enumerate(widgets.static_values("linear"))}
    spec = {"kind": "linear", "config": {"seed": 0},
            "values": {"N": 2, "D": 3, "M": 6, "wrt": "W", "order": "col"}}   # M=6: off-grid
    page = explorers.explorer_html(spec, "../_images/explorers/abc", alts, "ex1")
    for name in names:
        assert f'name="{name}"' in page and f'id="ex1-{name}"' in page and f'for="ex1-{name}"' in page
    key = "N2-D3-M4-wrtW-ordercol"                                   # M clamped to the grid's 4
    assert f'src="../_images/explorers/abc/{key}.png"' in page
    assert f'alt="{html.escape(alts[key])}"' in page
    data = json.loads(page.split('class="book-explorer-data">')[1].split("</script>")[0])
    assert data["names"] == names and data["alts"] == alts
    assert '<option value="W" selected>' in page
