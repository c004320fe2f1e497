"""The book's notation (reference/notation.ipynb) is stated once and followed.

What can be enforced mechanically:

1. the notation page's table "Shapes in the helpers" is exactly what the helpers'
   docstrings say, and every concrete shape in it agrees with the page's contract table
   (a leading ``*`` stands for N);
2. no chapter's code stores a one-hot target matrix in a variable named ``Y``
   (``T`` is the one-hot target, ``Y`` the layer's output);
3. in chapters 2 and 3, ``N`` is not the length of a vector (``N`` is only the batch
   size; vector lengths are ``D`` and ``M``): no ``\\mathbb{R}^N`` in the text and no
   1-D tensor of length ``N`` in the code;
4. the step function is never written ``H`` (``H`` is the MLP's hidden width);
5. the gradient-layout sentence is the same words on the notation page and in
   chapter 2, and chapters 3 and 4 point back to it instead of repeating it.

Each detector is tested on small positive and negative examples first, so that a
detector that stopped detecting fails here rather than passing silently.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import nbformat
import pytest

import helpers

ROOT = Path(__file__).resolve().parents[1]
NOTATION = ROOT / "reference" / "notation.ipynb"
CHAPTERS = (sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
            + sorted((ROOT / "chapters").glob("appendix_*.ipynb")))
LAYOUT_SENTENCE = ("a gradient has the shape of its variable; the numerator-layout "
                   "Jacobian row holds the same numbers")
HELPERS_WITH_SHAPES = ["linear", "linear_vjp", "nn_linear_vjp", "relu_vjp",
                       "softmax_cross_entropy_vjp", "mlp_backward"]


def _cells(path: Path, kind: str) -> list[str]:
    nb = nbformat.read(str(path), as_version=4)
    return [c.source for c in nb.cells if c.cell_type == kind]


def _chapter(prefix: str) -> Path:
    found = [p for p in CHAPTERS if p.name.startswith(prefix)]
    assert found, f"no chapter {prefix}_*.ipynb"
    return found[0]


# ---------------------------------------------------------------- markdown tables

def markdown_table(text: str, header: list[str]) -> list[list[str]]:
    """The rows of the first pipe table whose header cells are ``header`` (stripped)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells == header and i + 1 < len(lines) and set(lines[i + 1].strip()) <= set("|-: "):
            rows = []
            for row in lines[i + 2:]:
                if not row.strip().startswith("|"):
                    break
                rows.append([c.strip() for c in row.strip().strip("|").split("|")])
            return rows
    raise AssertionError(f"no table with header {header}")


def normalize_shape(text: str) -> str:
    """``(*, D)``, ``like Z``, ``any``: backticks and spaces removed, for comparison."""
    return re.sub(r"[`\s]", "", text)


# ---------------------------------------------------------------- docstring shapes

def docstring_shapes(func) -> dict[str, str]:
    """Argument (or result) name -> the shape its NumPy docstring states.

    Reads the ``Parameters`` and ``Returns`` sections. A shape is the first
    ``shape ``(...)`` `` of the entry's description; "shape of Z" gives ``likeZ``
    and "any shape" gives ``any``. An unnamed result is called ``returns``.
    """
    doc = inspect.getdoc(func) or ""
    out: dict[str, str] = {}
    section = None
    entry = None
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if i + 1 < len(lines) and re.fullmatch(r"-{3,}", lines[i + 1].strip()):
            section = line.strip()
            entry = None
            continue
        if section not in ("Parameters", "Returns") or re.fullmatch(r"-{3,}", line.strip()):
            continue
        if line and not line.startswith(" "):
            head = line.split(":")[0].strip()
            if section == "Returns" and ":" not in line:
                head = "returns"
            for name in head.split(","):
                out.setdefault(name.strip(), "")
            entry = [n.strip() for n in head.split(",")]
            continue
        if entry is None:
            continue
        for name in entry:
            if out[name]:
                continue
            m = re.search(r"[Ss]hape ``(\([^`]*\))``", line)
            if m:
                out[name] = normalize_shape(m.group(1))
            elif re.search(r"\bany shape\b", line, flags=re.I):
                out[name] = "any"
            elif m2 := re.search(r"shape of ``?(\w+)``?", line):
                out[name] = "like" + m2.group(1)
    return {k: v for k, v in out.items() if v}


def _example_doc():
    """Example.

    Parameters
    ----------
    G : torch.Tensor
        Upstream gradient, shape ``(*, M)``.
    Z : torch.Tensor
        Any shape.

    Returns
    -------
    torch.Tensor
        dL/dZ, shape of ``Z``.
    """


def test_docstring_parser_reads_parameters_and_returns():
    assert docstring_shapes(_example_doc) == {"G": "(*,M)", "Z": "any", "returns": "likeZ"}
    assert docstring_shapes(helpers.linear_vjp) == {
        "G": "(*,M)", "X": "(*,D)", "W": "(D,M)", "dX": "(*,D)", "dW": "(D,M)", "db": "(M,)"}


def _page_markdown() -> str:
    return "\n".join(_cells(NOTATION, "markdown"))


def test_helper_table_matches_the_docstrings():
    rows = markdown_table(_page_markdown(), ["helper", "argument or result", "shape"])
    page: dict[str, dict[str, str]] = {}
    for helper, arg, shape in rows:
        page.setdefault(helper.strip("`"), {})[arg.strip("`")] = normalize_shape(shape)
    assert sorted(page) == sorted(HELPERS_WITH_SHAPES), "the table lists exactly these helpers"
    for name in HELPERS_WITH_SHAPES:
        documented = docstring_shapes(getattr(helpers, name))
        assert page[name] == documented, (
            f"helpers.{name}: the notation page says {page[name]}, the docstring says {documented}")


def contract_shapes() -> dict[str, str]:
    """Code name -> shape from the contract table (several names in a row share it in order)."""
    rows = markdown_table(_page_markdown(), ["symbol", "shape", "in code", "meaning"])
    out = {}
    for _, shape, code, _ in rows:
        names = re.findall(r"`([A-Za-z_]\w*)`", code)
        shapes = re.findall(r"`(\([^`]*\))`", shape)
        if len(shapes) == len(names):
            out.update({n: normalize_shape(s) for n, s in zip(names, shapes)})
        elif len(shapes) == 1:
            out.update({n: normalize_shape(shapes[0]) for n in names})
    return out


def test_contract_table_has_the_book_names():
    shapes = contract_shapes()
    expected = {"X": "(N,D)", "W": "(D,M)", "b": "(M,)", "Y": "(N,M)", "G": "(N,M)",
                "dX": "(N,D)", "dW": "(D,M)", "db": "(M,)", "J_X": "(N,M,N,D)",
                "J_W": "(N,M,D,M)", "J_b": "(N,M,M)", "weight": "(M,D)", "T": "(N,C)",
                "labels": "(N,)", "logits": "(N,C)"}
    for name, shape in expected.items():
        assert shapes.get(name) == shape, f"{name}: contract table says {shapes.get(name)}"


def test_helper_shapes_agree_with_the_contract():
    """Every concrete helper shape, with the leading * read as N, is the contract's shape."""
    contract = contract_shapes()
    checked = 0
    for name in HELPERS_WITH_SHAPES:
        for arg, shape in docstring_shapes(getattr(helpers, name)).items():
            if not shape.startswith("(") or arg not in contract:
                continue
            as_batch = re.sub(r"^\(\*", "(N", shape)
            assert as_batch == contract[arg], (
                f"helpers.{name}({arg}) has shape {shape}; the notation page says {contract[arg]}")
            checked += 1
    assert checked >= 12, f"only {checked} helper shapes were compared with the contract"


# ---------------------------------------------------------------- Y is never a one-hot

_ONEHOT_RHS = re.compile(r"one_hot\(|torch\.eye\([^)]*\)\s*\[|\.scatter_?\(")


def onehot_Y(code: str) -> list[str]:
    """Lines that put a one-hot matrix into a variable named exactly ``Y``."""
    hits = []
    for line in code.splitlines():
        s = line.split("#")[0]
        if re.match(r"\s*Y\s*=[^=]", s) and _ONEHOT_RHS.search(s):
            hits.append(line.strip())                      # Y = F.one_hot(...), Y = eye(C)[labels]
        elif re.match(r"\s*Y\s*\[[^\]]*\]\s*=\s*1(\.0*)?\s*$", s):
            hits.append(line.strip())                      # Y[arange(N), labels] = 1
        elif re.match(r"\s*Y\s*\.\s*scatter_\(", s):
            hits.append(line.strip())                      # Y.scatter_(1, labels[:, None], 1)
    return hits


@pytest.mark.parametrize("code", [
    "Y = F.one_hot(labels, C).to(torch.float64)",
    "Y = torch.nn.functional.one_hot(labels, num_classes=C).double()",
    "Y = torch.zeros(N, C)\nY[torch.arange(N), labels] = 1.0",
    "Y = torch.eye(C, dtype=torch.float64)[labels]",
    "Y = torch.zeros(N, C).scatter_(1, labels[:, None], 1.0)",
    "Y = torch.zeros(N, C)\nY.scatter_(1, labels.unsqueeze(1), 1)",
])
def test_onehot_Y_detector_finds(code):
    assert onehot_Y(code)


@pytest.mark.parametrize("code", [
    "Y = X @ W + b",
    "T = F.one_hot(labels, C).to(torch.float64)",
    "Y_hat = torch.zeros(N, M)",
    "Y = linear(X, W, b)  # not F.one_hot",
    "YT = torch.eye(C)[labels]",
    "Y[0, 0] = 2.5",
])
def test_onehot_Y_detector_ignores(code):
    assert onehot_Y(code) == []


@pytest.mark.parametrize("path", CHAPTERS + [NOTATION], ids=lambda p: p.stem)
def test_no_onehot_matrix_named_Y(path):
    hits = [h for src in _cells(path, "code") for h in onehot_Y(src)]
    assert hits == [], f"{path.name}: one-hot targets are T, never Y: {hits}"


# ---------------------------------------------------------------- N is the batch size only

_VECTOR_OF_N = re.compile(
    r"torch\.(randn|rand|zeros|ones|empty|full)\(\s*N\s*(\)|,\s*(dtype|generator|device|requires_grad)\s*=)")
_R_N = re.compile(r"\\mathbb\{R\}\^(N\b|\{\s*N\s*\})(?!\s*\\times)")


def n_as_vector_length(code: str, markdown: str) -> list[str]:
    """Places where N is the length of a vector: a 1-D tensor of N entries, or R^N.

    A batch of N examples is always at least 2-D, (N, D) or (N, C), and lives in
    R^{N x D}; so a 1-D tensor of length N, a shape ``(N,)``, or the space R^N alone means
    N is being used as a vector length. (Class labels, one integer per example, are
    ``(N,)`` too: chapters 2 and 3 create them with ``randint``, which is not flagged.)
    """
    hits = [m.group(0) for m in _VECTOR_OF_N.finditer(code)]
    hits += [m.group(0) for m in _R_N.finditer(markdown)]
    return hits


@pytest.mark.parametrize("code,markdown", [
    ("x = torch.randn(N, dtype=torch.float64)", ""),
    ("N = 4\nv = torch.ones(N)", ""),
    ("", r"Let $f:\mathbb{R}^N \to \mathbb{R}$"),
    ("", r"for $x \in \mathbb{R}^{N}$"),
])
def test_vector_length_detector_finds(code, markdown):
    assert n_as_vector_length(code, markdown)


@pytest.mark.parametrize("code,markdown", [
    ("X = torch.randn(N, D, dtype=torch.float64)", r"$X \in \mathbb{R}^{N \times D}$"),
    ("Z = torch.randn(N, C, dtype=torch.float64)", r"$\mathbb{R}^D \to \mathbb{R}^M$"),
    ("labels = torch.randint(0, C, (N,))\nidx = torch.arange(N)", r"$\mathbb{R}^{N\times C}$"),
])
def test_vector_length_detector_ignores(code, markdown):
    assert n_as_vector_length(code, markdown) == []


@pytest.mark.parametrize("prefix", ["02", "03"])
def test_N_is_not_a_vector_length(prefix):
    path = _chapter(prefix)
    hits = n_as_vector_length("\n".join(_cells(path, "code")), "\n".join(_cells(path, "markdown")))
    assert hits == [], (f"{path.name}: N is the batch size only; vector lengths are D and M: "
                        f"{hits}")


# ---------------------------------------------------------------- H is not the step function

_H_STEP_MD = re.compile(r"(?<![\\\w])H\s*\(|Heaviside[^.\n]{0,40}\$H\$|\$H\$[^.\n]{0,40}Heaviside")
_H_STEP_CODE = re.compile(r"^\s*(def\s+H\s*\(|H\s*=\s*(lambda|torch\.heaviside|\(?\s*\w+\s*>\s*0))",
                          re.M)


def h_as_step(code: str, markdown: str) -> list[str]:
    """Places where H is a function (the step): ``H(z)`` in math, ``def H(`` or ``H = lambda``."""
    math = " ".join(re.findall(r"\$\$?(.+?)\$\$?", markdown, flags=re.S))
    hits = [m.group(0) for m in _H_STEP_MD.finditer(math)]
    hits += [m.group(0) for m in re.finditer(r"Heaviside[^.\n]{0,40}\$H\$|\$H\$[^.\n]{0,40}Heaviside",
                                             markdown)]
    hits += [m.group(0).strip() for m in _H_STEP_CODE.finditer(code)]
    return hits


@pytest.mark.parametrize("code,markdown", [
    ("", r"$\mathrm{relu}'(z) = H(z)$"),
    ("", r"the Heaviside step function $H$"),
    ("H = lambda z: (z > 0).double()", ""),
    ("def H(z):\n    return (z > 0).to(z.dtype)", ""),
    ("H = (Z > 0).double()", ""),
])
def test_step_detector_finds(code, markdown):
    assert h_as_step(code, markdown)


@pytest.mark.parametrize("code,markdown", [
    ("H = 16\nW1 = torch.randn(D, H)", r"hidden width $H$, $W_1$ is $D \times H$"),
    ("step = (Z > 0).double()", r"$\mathbb{1}[z > 0]$ and $\operatorname{relu}(z)$"),
    ("", r"$O(H)$ memory, $\mathbb{R}^{N \times H}$"),
])
def test_step_detector_ignores(code, markdown):
    assert h_as_step(code, markdown) == []


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_H_is_not_the_step_function(path):
    hits = h_as_step("\n".join(_cells(path, "code")), "\n".join(_cells(path, "markdown")))
    assert hits == [], f"{path.name}: write the step as 1[z > 0] or `step`, never H: {hits}"


# ---------------------------------------------------------------- the layout sentence

def _plain_text(markdown: str) -> str:
    text = re.sub(r"[*_]", "", markdown)          # emphasis
    return re.sub(r"\s+", " ", text).lower()


@pytest.mark.parametrize("where", ["notation", "02"])
def test_layout_sentence_in_the_same_words(where):
    path = NOTATION if where == "notation" else _chapter(where)
    assert LAYOUT_SENTENCE.lower() in _plain_text("\n".join(_cells(path, "markdown"))), (
        f"{path.name} should state the layout rule in the book's words: {LAYOUT_SENTENCE!r}")


@pytest.mark.parametrize("where", ["03", "04"])
def test_layout_sentence_stated_once_and_pointed_back_to(where):
    """Issue 21 §5: chapter 2 states the rule; chapters 3 and 4 point back to it."""
    markdown = "\n".join(_cells(_chapter(where), "markdown"))
    assert LAYOUT_SENTENCE.lower() not in _plain_text(markdown), (
        f"chapter {where} repeats the layout sentence: point back to sec-gradient-shape")
    assert "sec-gradient-shape" in markdown, f"chapter {where} should point to sec-gradient-shape"


# ================================================================= chapter 7 (issue 22 §5)
# Five rules of the notation decisions, each a detector tried first on small positive and
# negative examples, then run over every chapter and the notation page: roman d for
# differentials (8), the Kronecker delta rather than an Iverson bracket, h (not epsilon) for
# the finite-difference step (2), `<V>_dir` for a direction in code, stepped by h (8, 3), and
# G only for the layer's dL/dY, never G_V for another tensor (11).
#
# PENDING lists the chapters that still break a rule while their own helpers rewrite them
# (issues 21 and 22). Their test is an xfail with strict=True: once such a chapter is fixed,
# its XPASS fails the run until its entry is removed here, so the list cannot go stale.

PENDING = {
}


def _math(markdown: str) -> list[str]:
    """The math of a markdown cell ($...$ and $$...$$), with \\text{..}, \\texttt{..} and
    roman d (\\mathrm{d}, \\operatorname{d}) removed."""
    parts = [a or b for a, b in re.findall(r"\$\$(.+?)\$\$|\$(.+?)\$", markdown, flags=re.S)]
    out = []
    for m in parts:
        m = re.sub(r"\\(?:text|texttt|mathrm|operatorname)\s*\{\s*d\s*\}", "", m)
        m = re.sub(r"\\(?:text|texttt)\s*\{[^{}]*\}", "", m)
        out.append(m)
    return out


_ITALIC_D = [
    re.compile(r"(?<![\\\w{])dL(?![\w/])"),                         # the loss's differential dL
    re.compile(r"\\langle(?:(?!\\rangle).)*?,\s*(?:\\[,;]\s*)*d(?:[A-Z]|[a-z](?![a-z]))"),
    re.compile(r"(?:\\mathbf\s*\{?1\}?|(?<![\w.])1)(?:_\{?\w+\}?)?(?:\s|\\[,;])*d[a-z]\w*\s*\^"),
    re.compile(r"(?<![\\\w])[A-Z](?:_\{?\w+\}?)?(?:\^\{?\\top\}?)?(?:\s|\\[,;])+d[A-Z]"),
]


def italic_differentials(markdown: str) -> list[str]:
    """Differentials written with an italic d: ``dL``, an italic ``dV`` in the second slot of
    an inner product, ``1 db^T``, or a matrix times an italic ``dV`` (``X\\,dW``). Italic
    ``dX = G W^T`` (a gradient, the contract's name) is not flagged."""
    return [m.group(0) for math in _math(markdown) for p in _ITALIC_D for m in p.finditer(math)]


@pytest.mark.parametrize("markdown", [
    r"$$dL = \langle G_{Z_2}, dZ_2 \rangle$$",
    r"$\langle G, dX\,W \rangle = \langle G W^\top, dX \rangle$",
    r"$$dY = dX\,W + X\,dW + \mathbf 1\,db^\top$$",
    r"$dZ_1 = dX\, W_1 + X\, dW_1$",
    r"$\langle \texttt{dX}, dX\rangle$",
    r"$dA = (dQ\,K^\top + Q\,dK^\top)/\sqrt d$",
])
def test_italic_differential_detector_finds(markdown):
    assert italic_differentials(markdown)


@pytest.mark.parametrize("markdown", [
    r"$dX = G\,W^\top, \qquad dW = X^\top G, \qquad db = G^\top \mathbf{1}_N$",
    r"$$\mathrm{d}L = \langle \tfrac{\partial L}{\partial Z_2}, \mathrm{d}Z_2 \rangle$$",
    r"$\mathrm{d}Y = \mathrm{d}X\, W + X\, \mathrm{d}W + \mathbf 1\, \mathrm{d}b^\top$",
    r"$\langle \texttt{dX}, \mathrm{d}X \rangle$ and $\text{dweight} = dW^\top$",
    r"$\langle G, \operatorname{diag}(p) \rangle$, $\sqrt d$, `dX` in code, dL/dY in prose",
])
def test_italic_differential_detector_ignores(markdown):
    assert italic_differentials(markdown) == []


_IVERSON_EQ = re.compile(
    r"(?<![\w\\])\[\s*[a-z](?:'|_\{?\w+\}?)?\s*=\s*[a-z](?:'|_\{?\w+\}?)?\s*\]")


def iverson_deltas(markdown: str) -> list[str]:
    """Iverson brackets of an equality of indices, ``[n = n']``: a Kronecker delta, to be
    written ``\\delta_{nn'}``. The step ``\\mathbb{1}[z > 0]`` is not flagged."""
    return [m.group(0) for math in _math(markdown) for m in _IVERSON_EQ.finditer(math)]


@pytest.mark.parametrize("markdown", [
    r"$[n = n'] \, [h = h'] \, \mathbb{1}[Z_{1,nh} > 0]$",
    r"$T_{nk} = [k = k_n]$",
    r"$$\frac{\partial y_i}{\partial x_j} = [i=j]\, \varphi'(x_i)$$",
])
def test_iverson_detector_finds(markdown):
    assert iverson_deltas(markdown)


@pytest.mark.parametrize("markdown", [
    r"$\delta_{np}\, \delta_{mq}\, \mathbb{1}[Z_{1,nm} > 0]$ and $T_{nk} = \delta_{k k_n}$",
    r"$s \in [0, 1]$, $x[i]$, $[a, b]$",
    r"the list [n = 3] outside math",
])
def test_iverson_detector_ignores(markdown):
    assert iverson_deltas(markdown) == []


_FD_EPS_CODE = re.compile(r"/\s*\(\s*2\s*\*\s*eps(?:ilon)?\s*\)|/\s*eps(?:ilon)?\b")
_FD_EPS_MD = re.compile(r"\{\s*2\s*\\(?:var)?epsilon\s*\}|/\s*\(?\s*2\s*\\(?:var)?epsilon"
                        r"|[+-]\s*\\(?:var)?epsilon\s*(?:\\,)?\s*[A-Z]")


def _code_only(code: str) -> str:
    return "\n".join(line.split("#")[0] for line in code.splitlines())


def epsilon_steps(code: str, markdown: str) -> list[str]:
    """A finite-difference step called epsilon: ``/ (2 * eps)`` in code, ``/(2\\varepsilon)``
    or ``\\theta + \\varepsilon V`` in math. Layer norm's ``var + eps`` is not flagged."""
    hits = [m.group(0) for m in _FD_EPS_CODE.finditer(_code_only(code))]
    hits += [m.group(0) for math in _math(markdown) for m in _FD_EPS_MD.finditer(math)]
    return hits


@pytest.mark.parametrize("code,markdown", [
    ("dL_central = (loss_along(eps) - loss_along(-eps)) / (2 * eps)", ""),
    ("slope = (f(x + eps) - f(x)) / eps", ""),
    ("", r"$(L(\theta + \varepsilon V) - L(\theta - \varepsilon V)) / (2\varepsilon)$"),
    ("", r"$$\frac{f(x + \epsilon) - f(x - \epsilon)}{2 \epsilon}$$"),
])
def test_epsilon_step_detector_finds(code, markdown):
    assert epsilon_steps(code, markdown)


@pytest.mark.parametrize("code,markdown", [
    ("x_hat = (X - mu) / torch.sqrt(var + eps)\nh = 1e-6\nd = (f(x + h) - f(x - h)) / (2 * h)",
     r"$\hat x = (x - \mu)/\sqrt{\sigma^2 + \varepsilon}$, $(L(\theta + h V) - L(\theta - h V))/(2h)$"),
    ("# the old code divided by (2 * eps)\nprint('eps')", r"$\varepsilon = 10^{-5}$"),
])
def test_epsilon_step_detector_ignores(code, markdown):
    assert epsilon_steps(code, markdown) == []


@pytest.mark.parametrize("path", sorted((ROOT / "helpers").rglob("*.py")), ids=lambda p: p.name)
def test_helpers_call_the_step_h(path):
    """The helpers' finite differences name their step h, as the chapters do (``eps`` is layer
    norm's constant): ``numerical_jacobian(f, x, h=...)``."""
    assert epsilon_steps(path.read_text(), "") == [], path
    assert "h" in inspect.signature(helpers.jacobians.numerical_jacobian).parameters


_STEPPED = re.compile(r"[+-]\s*(h|t|eps|step)\s*\*\s*([A-Za-z_]\w*)")


def _direction_misnamed(name: str) -> bool:
    """A gradient's name (``dX``, ``dx``, ``dX_step``, ``d``), a bare capital (``E``, ``V``) or
    a Delta: the names the notation decisions rule out for a direction (``X_dir`` instead)."""
    if "dir" in name.lower():
        return False
    return bool(name == "d" or re.fullmatch(r"d[A-Za-z]\w*", name) or re.fullmatch(r"[A-Z]", name)
                or name.lower().startswith("delta"))


def bad_directions(code: str) -> list[str]:
    """``x + h * V`` where the direction is named like a gradient (``dx``), a bare capital
    (``E``, ``V``) or a Delta, or where the step is ``t`` (a scalar step is never t).
    Descriptive names (``perp``, ``ones``, a Taylor term ``f3``) are left alone."""
    return [m.group(0) for m in _STEPPED.finditer(_code_only(code))
            if m.group(1) == "t" or _direction_misnamed(m.group(2))]


@pytest.mark.parametrize("code", [
    "moved = {k: v + t * V[k] for k, v in inputs.items()}",
    "(L_of(X + h * E) - L_of(X - h * E)) / (2 * h)",
    "slope = (f(x + h * dx) - f(x - h * dx)) / (2 * h)",
    "actual = f(x0 + t * x_dir) - f(x0)",
    "moved = X + h * dX_step",
    "moved = X + h * DeltaX",
])
def test_direction_detector_finds(code):
    assert bad_directions(code)


@pytest.mark.parametrize("code", [
    "loss(X + h * X_dir, W + h * W_dir, b + h * b_dir)",
    "rate = (f(x0 + h * perp) - f(x0 - h * perp)) / (2 * h)\ntaylor = f0 + h * f1 + h**2 / 2 * f2",
    "moved = {k: v + step * dirs[k] for k, v in inputs.items()}   # + h * V in a comment",
    "theta = {k: v - lr * grads['d' + k] for k, v in theta.items()}\nz = x + 2 * y",
])
def test_direction_detector_ignores(code):
    assert bad_directions(code) == []


_G_OF = re.compile(r"(?<![\\\w])G_\{?\s*[A-Z]")


def g_of_tensor(markdown: str) -> list[str]:
    """``G_{Z_2}``, ``G_V``: G with a tensor's name as subscript. G is only dL/dY of the layer
    being differentiated; the gradient of another tensor V is dL/dV (``dV`` in code).
    Row indices, ``G_{n,:}``, are not flagged."""
    return [m.group(0) for math in _math(markdown) for m in _G_OF.finditer(math)]


@pytest.mark.parametrize("markdown", [r"$G_{Z_2} = \frac1N (P - T)$", r"$G_V = \partial L/\partial V$",
                                      r"$$G_{ A_1} \odot M$$"])
def test_g_of_tensor_detector_finds(markdown):
    assert g_of_tensor(markdown)


@pytest.mark.parametrize("markdown", [r"$\sum_n G_{n,:}$, $G_{nm}$, $G_{n m}$, $\mathbf{G}$",
                                      r"`G_sh` in code, $G = \partial L/\partial S$"])
def test_g_of_tensor_detector_ignores(markdown):
    assert g_of_tensor(markdown) == []


_ACTIVATION_DEF = re.compile(r"A(?:_\{?\w+\}?)?\s*=\s*(?:\\operatorname\{relu\}|\\varphi|\\phi|\\sigma|\\tanh|\\mathrm\{relu\})")
_BARE_A = re.compile(r"(?<![A-Za-z\\_{])A(?![A-Za-z_'])")


def generic_A(markdown: str) -> list[str]:
    """$A$ on a page that never defines it as an activation, A = relu(Z) or A = phi(Z):
    a generic matrix, which the book calls B or R (the contract's A is an activation)."""
    maths = _math(markdown)
    if any(_ACTIVATION_DEF.search(m) for m in maths):
        return []
    return [m for m in maths if _BARE_A.search(m)]


@pytest.mark.parametrize("markdown,found", [
    (r"Let $A$ be a $D \times D$ matrix and $f(x) = x^\top A x$.", 2),
    (r"$\langle A, B \rangle = \operatorname{tr}(A^\top B)$", 1),
    (r"Let $A = \varphi(Z)$ element-wise; $\partial A/\partial Z$ is diagonal.", 0),
    (r"$A_1 = \operatorname{relu}(Z_1)$, then $A_1 W_2$", 0),
    (r"$\mathcal{A}$, $\Delta$, $A'$ is not a bare A, $x^\top B x$", 0),
])
def test_generic_A_detector(markdown, found):
    assert len(generic_A(markdown)) == found


_DELTA_CHANGE = re.compile(r"\\Delta\s*(?:[A-Za-z](?![A-Za-z])|\\(?:theta|gamma|beta|mu|hat)\b)")
_DIFFERENTIAL_CHAPTERS = ("05", "06", "07", "08", "ap")


def finite_changes_after_chapter4(path: Path, markdown: str) -> list[str]:
    """A Delta-change ($\\Delta X$) from chapter 5 on, where a small change is the
    differential $\\mathrm{d}X$: one name per chapter range, as the contract's two rows say."""
    if not path.stem.startswith(_DIFFERENTIAL_CHAPTERS):
        return []
    return [m.group(0) for math in _math(markdown) for m in _DELTA_CHANGE.finditer(math)]


@pytest.mark.parametrize("markdown,found", [
    (r"a change $\Delta X$ moves $Y$ by $\Delta X\, W$", 2),
    (r"$$\Delta L \approx \langle G, \Delta Y\rangle$$", 2),
    (r"$\mathrm{d}L = \langle G, \mathrm{d}Y\rangle$, `Delta X` in code", 0),
])
def test_finite_change_detector(markdown, found):
    assert len(finite_changes_after_chapter4(Path("05_linear_layer.ipynb"), markdown)) == found
    assert finite_changes_after_chapter4(Path("02_gradient.ipynb"), markdown) == []


def test_contract_names_the_finite_change_and_the_differential():
    table = _cells(NOTATION, "markdown")[0]
    assert re.search(r"^\| \$\\Delta x\$, \$\\Delta X\$", table, re.M), "no Delta row"
    assert re.search(r"^\| \$\\mathrm\{d\}X\$", table, re.M), "no differential row"


_RULES = {
    "italic_d": lambda code, md: italic_differentials(md),
    "iverson": lambda code, md: iverson_deltas(md),
    "fd_eps": epsilon_steps,
    "direction": lambda code, md: bad_directions(code),
    "g_of_tensor": lambda code, md: g_of_tensor(md),
    "generic_A": lambda code, md: generic_A(md),
}
_PATH_RULES = {"delta_change": finite_changes_after_chapter4}
_WHY = {
    "italic_d": "differentials take a roman d (\\mathrm{d}); italic dX is the gradient",
    "iverson": "write the Kronecker delta as \\delta, not an Iverson bracket [i = j]",
    "fd_eps": "the finite-difference step is h; epsilon is layer norm's constant",
    "direction": "a direction in code is `<V>_dir`, stepped by h (never t)",
    "g_of_tensor": "G is dL/dY of the layer being differentiated; write dL/dV for another V",
    "generic_A": "A is an activation, relu(Z); a generic matrix is B or R",
    "delta_change": "from chapter 5 on a small change is the differential \\mathrm{d}X, not \\Delta X",
}
_PAGES = CHAPTERS + [NOTATION]
_RULE_CASES = []
for _rule in list(_RULES) + list(_PATH_RULES):
    for _page in _PAGES:
        _marks = ()
        if _page.stem in PENDING.get(_rule, {}):
            _marks = pytest.mark.xfail(strict=True, reason=PENDING[_rule][_page.stem])
        _RULE_CASES.append(pytest.param(_rule, _page, marks=_marks, id=f"{_rule}-{_page.stem}"))


def test_pending_entries_name_real_pages():
    stems = {p.stem for p in _PAGES}
    for rule, pages in PENDING.items():
        assert (rule in _RULES or rule in _PATH_RULES) and set(pages) <= stems, (rule, pages)


@pytest.mark.parametrize("rule,path", _RULE_CASES)
def test_notation_rule_book_wide(rule, path):
    code = "\n".join(_cells(path, "code"))
    markdown = "\n".join(_cells(path, "markdown"))
    if rule in _PATH_RULES:
        hits = _PATH_RULES[rule](path, markdown)
    else:
        hits = _RULES[rule](code, markdown)
    assert hits == [], f"{path.name}: {_WHY[rule]}: {hits}"

# ======================================================================================
# Chapter 8 (issue 22 §5): its helpers' own table, and a detector for each collision the
# issue found in chapter 8, run over every chapter. Where another chapter still has the
# collision (its helper fixes it), the test is a strict xfail naming the cell: it turns
# red the day the collision is fixed, so the marker is removed then.
# ======================================================================================

import ast  # noqa: E402

MORE_LAYERS_HELPERS = ["conv1d", "conv1d_vjp", "layer_norm", "layer_norm_vjp", "batch_norm",
                       "batch_norm_vjp", "attention_weights", "attention", "attention_vjp"]
#: chapters that still have a collision another helper is fixing: detector -> stems
PENDING_CH8: dict[str, dict[str, str]] = {}


def _first_shape(text: str) -> str:
    """The first shape of a table cell or docstring entry, normalized: ``(N,D)``, ``likeX``."""
    m = re.search(r"\(([^()`]*)\)", text)
    if text.strip().startswith("like"):
        return "like" + text.strip()[4:].strip(" `")
    return normalize_shape(f"({m.group(1)})") if m else normalize_shape(text)


def test_chapter8_helper_table_matches_the_docstrings():
    from helpers import more_layers
    rows = markdown_table(_page_markdown(), ["helper (chapter 8)", "argument or result", "shape"])
    page: dict[str, dict[str, str]] = {}
    for helper, arg, shape in rows:
        page.setdefault(helper.strip("`"), {})[arg.strip("`")] = _first_shape(shape)
    assert sorted(page) == sorted(MORE_LAYERS_HELPERS)
    assert sorted(MORE_LAYERS_HELPERS) == sorted(more_layers.__all__)
    for name in MORE_LAYERS_HELPERS:
        documented = docstring_shapes(getattr(more_layers, name))
        assert page[name] == documented, (
            f"helpers.more_layers.{name}: the notation page says {page[name]}, the docstring "
            f"says {documented}")


def test_chapter8_symbols_are_on_the_contract():
    shapes = contract_shapes()
    assert shapes.get("Q") == "(I,E)" and shapes.get("U") == "(S,E)" and shapes.get("V") == "(S,E_v)"
    assert shapes.get("weight") == "(M,D)", "the conv kernel's row must not re-shape nn.Linear's weight"
    text = _page_markdown()
    for code in ("`C_in`, `C_out`", "`L_in`, `L_out`", "`I`, `S`", "`E`, `E_v`", "`rho`", "`eps`"):
        assert code in text, f"the contract table lacks {code}"


def _math_ch8(markdown: str) -> list[str]:
    markdown = re.sub(r"```.*?```", "", markdown, flags=re.S)
    return [a or b for a, b in re.findall(r"\$\$(.+?)\$\$|\$(.+?)\$", markdown, flags=re.S)]


def _finds(pattern: str, text: str) -> list[str]:
    return [m.group(0) for m in re.finditer(pattern, text)]


# --- italic differentials: roman d only (\mathrm{d}); code names directions X_dir

_ITALIC_D_CH8 = [r"(?<![\\A-Za-z])d\\(mu|sigma|hat|gamma|beta|epsilon|bar|tilde)(?![A-Za-z])",
             r"(?<![\\A-Za-z{])dY(?![A-Za-z_])",                 # dL/dY is G: a dY is a change
             r"(?<![\\A-Za-z{_])d[xyzs](?![A-Za-z_}])",           # dx, dy, dz, ds
             r"\\texttt\{d\w*\}\s*,\s*d[A-Za-z]"]                 # <`dX`, dX>


def italic_d(code: str, markdown: str) -> list[str]:
    """Differentials written with an italic d in the math of ``markdown``."""
    return [h for m in _math_ch8(markdown) for p in _ITALIC_D_CH8 for h in _finds(p, m)]


# --- lengths and channels: L_in/L_out, C_in/C_out (never a bare L, T, C, O for them)

def _assigned(code: str) -> list[tuple[str, ast.expr, list[str]]]:
    """(name, value, the other names of the same tuple) for every simple assignment."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign):
            continue
        for t in node.targets:
            if isinstance(t, ast.Name):
                out.append((t.id, node.value, []))
            elif (isinstance(t, ast.Tuple) and isinstance(node.value, ast.Tuple)
                  and len(t.elts) == len(node.value.elts)):
                names = [e.id for e in t.elts if isinstance(e, ast.Name)]
                out += [(e.id, v, names) for e, v in zip(t.elts, node.value.elts)
                        if isinstance(e, ast.Name)]
    return out


def bare_lengths(code: str, markdown: str) -> list[str]:
    """A convolution's length or channel count written L, T, C or O (the loss, the targets,
    the classes), or its kernel written W (the book's in-first weight)."""
    hits = []
    for name, value, tuple_names in _assigned(code):
        uses = {n.id for n in ast.walk(value) if isinstance(n, ast.Name)}
        if name in ("L", "T", "O") and ("K" in tuple_names or "K" in uses):
            hits.append(f"{name} = {ast.unparse(value)}")
    hits += _finds(r"Conv\w*\(\s*[CO]\s*,|\(\s*O\s*,\s*C\s*,\s*K\s*\)", code)
    hits += _finds(r"(?m)^\s*W\s*=\s*torch\.\w+\(\s*\w+\s*,\s*\w+\s*,\s*\w+\s*[,)]", code)
    hits += _finds(r"length \$[LT]\$|\$[LT] - K|\bT = L\b|\(O, C, K\)|\(N, C, L\)|kernel \$W\$"
                   r"|\$O\$ output channels|\$C\$ input channels", markdown)
    return hits


# --- attention: scores are logits Z, weights are probabilities P; counts are not N_q, N_k

def attention_letters(code: str, markdown: str) -> list[str]:
    hits = _finds(r"(?m)^\s*A\s*=\s*Q\s*@|^\s*S\s*=\s*(?:torch\.)?softmax|^\s*S\s*=\s*attention", code)
    hits += _finds(r"\bN_?[qk]\b", code) + _finds(r"N_\{?[qk]\b", markdown)
    hits += [h for m in _math_ch8(markdown)
             for h in _finds(r"A = \\frac\{Q|S = \\operatorname\{softmax\}|(?<![\w\\])s_\{ij\}", m)]
    return hits


# --- a normalization's standard deviation is sigma, not s (s shifts logits)

def s_as_std(code: str, markdown: str) -> list[str]:
    return (_finds(r"(?m)^\s*s\s*=\s*torch\.sqrt\(", code)
            + [h for m in _math_ch8(markdown) for h in _finds(r"(?<![\w\\])s = \\sqrt", m)])


# --- G is the layer's dL/dY only: an intermediate's gradient is dL/dV (code dV), not G_V

def g_subscript(code: str, markdown: str) -> list[str]:
    return _finds(r"\bG_[A-Z]\b", code) + [h for m in _math_ch8(markdown)
                                           for h in _finds(r"G_[A-Z](?![A-Za-z])", m)]


# --- math indices start at 1 (code counts from 0)

def zero_based_math(code: str, markdown: str) -> list[str]:
    return [h for m in _math_ch8(markdown)
            for h in _finds(r"_\{[a-z]\s*=\s*0\}|(?<![\w\\])[a-z] = 0, \\dots", m)]


DETECTORS = {"italic_d": italic_d, "bare_lengths": bare_lengths,
             "attention_letters": attention_letters, "s_as_std": s_as_std,
             "G_V": g_subscript, "zero_based": zero_based_math}

# (detector, code, markdown): each positive example is a line of chapter 8 as it was at
# f546dd7; each negative one its replacement (or another chapter's legitimate use)
_POSITIVE = [
    ("italic_d", "", r"Differentiating directly: $d\mu = \operatorname{mean}(dx)$"),
    ("italic_d", "", r"$\langle G, \operatorname{conv}(dX, W)\rangle = \langle \texttt{dX}, dX\rangle$"),
    ("italic_d", "", r"its differential is $dY = \operatorname{conv}(dX, W) + db$"),
    ("italic_d", "", r"$d\hat x = (dx - d\mu)/s - \hat x\, ds/s$"),
    ("bare_lengths", "N, C, O, L, K = 2, 1, 1, 5, 2", ""),
    ("bare_lengths", "T = L - K + 1", ""),
    ("bare_lengths", "torch_conv = torch.nn.Conv1d(C, O, K, dtype=F64)", ""),
    ("bare_lengths", "W = torch.randn(O, C, K, dtype=F64)", ""),
    ("bare_lengths", "", r"an input row $x$ of length $L$ and a kernel $w$ of length $K$"),
    ("bare_lengths", "", r"$X$ is $(N, C, L)$, the kernel $W$ is $(O, C, K)$"),
    ("attention_letters", "S = attention_scores(Q, Kmat)", ""),
    ("attention_letters", "Nq, Nk, d = 3, 4, 2", ""),
    ("attention_letters", "", r"$A = \frac{Q K^\top}{\sqrt d}$, $S = \operatorname{softmax}_{\text{rows}}(A)$"),
    ("attention_letters", "", r"$Q$ of shape $N_q \times d$"),
    ("s_as_std", "s = torch.sqrt(((X[0] - mu) ** 2).mean() + 1e-5)", ""),
    ("s_as_std", "", r"We write $s = \sqrt{\sigma^2 + \epsilon}$."),
    ("G_V", "G_V = torch.randn(N, M)", ""),
    ("G_V", "", r"We write $G_V = \partial L / \partial V$"),
    ("zero_based", "", r"$y_t = b + \sum_{k=0}^{K-1} w_k\, x_{t+k}, \qquad t = 0, \dots, T-1.$"),
]
_NEGATIVE = [
    ("italic_d", "", r"$\mathrm{d}\mu = \operatorname{mean}(\mathrm{d}x)$, $dX = G W^\top$, $db$"),
    ("italic_d", "", r"$\langle \partial L/\partial X, \mathrm{d}X\rangle$ and $\mathrm{d}Y = \mathrm{d}X\,W$"),
    ("italic_d", "", r"the sum $\sum_d x_d$ and $\hat x_d$, $\operatorname{diag}(p)$"),
    ("bare_lengths", "N, L_in, K = 3, 6, 2\nL_out = L_in - K + 1\nL = loss(Y)", ""),
    ("bare_lengths", "weight = torch.randn(C_out, C_in, K, dtype=F64)\nW = torch.randn(D, M, dtype=F64)", ""),
    ("bare_lengths", "n, L = 256, 4\nC, k = 5, 2", r"$C$ classes, the loss $L$, length $L_{\text{in}}$"),
    ("attention_letters", "P = attention_weights(Q, U)\nI, S, E, E_v = 3, 4, 2, 5", ""),
    ("attention_letters", "", r"$Z = \frac{QU^\top}{\sqrt E}$, $p_{ij}$, $N$ examples"),
    ("s_as_std", "sigma = torch.sqrt(var + eps)\ns = z.max()", r"$\sigma_\epsilon = \sqrt{\sigma^2 + \epsilon}$"),
    ("G_V", "G_s = torch.randn_like(Y_s)\nG_pool = 1", r"$G = \partial L/\partial O$, $G_{n,:}$"),
    ("zero_based", "", r"$\sum_{j=1}^{K} w_j\, x_{i+j-1}$, $i = 1, \dots, L_{\text{out}}$; in code range(0, K)"),
]


@pytest.mark.parametrize("name,code,markdown", _POSITIVE)
def test_chapter8_detectors_find(name, code, markdown):
    assert DETECTORS[name](code, markdown), (name, code, markdown)


@pytest.mark.parametrize("name,code,markdown", _NEGATIVE)
def test_chapter8_detectors_ignore(name, code, markdown):
    assert DETECTORS[name](code, markdown) == [], (name, code, markdown)


def _detector_params():
    out = []
    for name in DETECTORS:
        for path in CHAPTERS + [NOTATION]:
            reason = PENDING_CH8.get(name, {}).get(path.stem)
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            out.append(pytest.param(name, path, marks=marks, id=f"{name}-{path.stem}"))
    return out


@pytest.mark.parametrize("name,path", _detector_params())
def test_chapter8_collisions_are_gone(name, path):
    hits = DETECTORS[name]("\n".join(_cells(path, "code")), "\n".join(_cells(path, "markdown")))
    assert hits == [], f"{path.name}: {name}: {hits} (see reference/notation.ipynb)"

# ================================================================ chapters 5 and 6 (and the
# appendix on measuring cost): issue 22 §5, run over every chapter. Rules: the finite-difference
# step is h (never epsilon, which is the normalization constant); a direction along which a
# function is perturbed is named ``*_dir`` (``X_dir``: never E, V, dx, dirs for it); the
# Kronecker delta is written delta (no Iverson brackets for an equality of indices); math
# indices start at 1 (no sum from 0 over an index letter).
#
# PENDING_CH56 lists violations that exist, when these detectors were written, in chapters other
# helpers are rewriting; each is a strict xfail, so it turns red once the chapter is fixed:
# then delete its entry.
PENDING_CH56 = {
}

_EPS_STEP_MD = re.compile(
    r"[+-]\s*\\(?:var)?epsilon\s*(?:\\[,;!]\s*)*(?:[A-Za-z]\b|\\mathbf|\\mathrm\{d\}|\\theta)"
    r"|/\s*\(?\s*2\s*\\(?:var)?epsilon")
_EPS_STEP_CODE = re.compile(r"[+-]\s*eps\s*\*\s*\w|/\s*\(\s*2\s*\*\s*eps\s*\)")


def epsilon_as_step(code: str, markdown: str) -> list[str]:
    """A finite-difference step written epsilon: ``x + eps * v`` or ``/ (2 * eps)`` in code,
    ``x + \\varepsilon V`` or ``/ 2\\varepsilon`` in math. A normalization constant added to
    a variance (``var + eps``, ``\\sigma^2 + \\varepsilon``) is not flagged."""
    math = " ".join(re.findall(r"\$\$?(.+?)\$\$?", markdown, flags=re.S))
    return ([m.group(0) for m in _EPS_STEP_CODE.finditer(code)]
            + [m.group(0) for m in _EPS_STEP_MD.finditer(math)])


@pytest.mark.parametrize("code,markdown", [
    ("rate = (f(x + eps * v) - f(x - eps * v)) / (2 * eps)", ""),
    ("d = (f(x + eps) - f(x - eps)) / (2 * eps)", ""),
    ("", r"$(L(\theta + \varepsilon V) - L(\theta - \varepsilon V)) / (2\varepsilon)$"),
    ("", r"$f(x + \epsilon\, v)$"),
])
def test_epsilon_step_detector_ch56_finds(code, markdown):
    assert epsilon_as_step(code, markdown)


@pytest.mark.parametrize("code,markdown", [
    ("y = (x - mu) / torch.sqrt(var + eps)", r"$\hat x = (x - \mu)/\sqrt{\sigma^2 + \varepsilon}$"),
    ("rate = (f(x + h * x_dir) - f(x - h * x_dir)) / (2 * h)", r"$(f(x + h v) - f(x - h v))/2h$"),
    ("", r"$\sigma = \sqrt{\operatorname{var} + \epsilon}$, with $\varepsilon = 10^{-5}$"),
])
def test_epsilon_step_detector_ch56_ignores(code, markdown):
    assert epsilon_as_step(code, markdown) == []


_PERTURBED = re.compile(r"[+-]\s*h\s*\*\s*([A-Za-z_]\w*)")


def directions_not_named_dir(code: str) -> list[str]:
    """Names multiplied by the step h in a perturbation (``X + h * X_dir``) that do not end
    in ``_dir``: a direction has one name in the book."""
    return sorted({name for name in _PERTURBED.findall(code) if not name.endswith("_dir")})


def test_direction_detector():
    assert directions_not_named_dir("L(X + h * E) - L(X - h * E)") == ["E"]
    assert directions_not_named_dir("f(x + h * dx)\ng(S - h * V)") == ["V", "dx"]
    assert directions_not_named_dir("loss(X + h * X_dir, W + h * W_dir)") == []
    assert directions_not_named_dir("y = a * h * b\nz = x - h ** 2") == []


_IVERSON = re.compile(r"\[\s*[a-z](?:_\w)?\s*=\s*[a-z](?:_\w)?\s*\]|\\mathbb\{1\}_\{[a-z]\s*=\s*[a-z]\}"
                      r"|\\llbracket|\[\\!\[")


def iverson_for_equal_indices(markdown: str) -> list[str]:
    """An equality of indices written as an Iverson bracket (``[n = p]``,
    ``\\mathbb{1}_{i=j}``) where the book writes the Kronecker delta ``\\delta_{np}``.
    The step function ``\\mathbb{1}[z > 0]`` is not flagged."""
    math = " ".join(re.findall(r"\$\$?(.+?)\$\$?", markdown, flags=re.S))
    return [m.group(0) for m in _IVERSON.finditer(math)]


def test_iverson_detector():
    assert iverson_for_equal_indices(r"$\partial y_{nm}/\partial x_{pd} = [n = p]\, w_{dm}$")
    assert iverson_for_equal_indices(r"$\mathbb{1}_{i=j}$ and $\llbracket m = q \rrbracket$")
    assert iverson_for_equal_indices(r"$\delta_{np} w_{dm}$, $\mathbb{1}[z > 0]$, $[0, 1]$") == []


_SUM_FROM_0 = re.compile(r"\\sum_\{?\s*[a-z]\s*=\s*0|\b[a-z]\s*=\s*0\s*,\s*\\(?:dots|ldots)")


def math_index_from_0(markdown: str) -> list[str]:
    """A sum or an index range in the math that starts at 0 (the math counts from 1; the code
    from 0, which the chapters say where it matters)."""
    math = " ".join(re.findall(r"\$\$?(.+?)\$\$?", markdown, flags=re.S))
    return [m.group(0) for m in _SUM_FROM_0.finditer(math)]


def test_index_base_detector():
    assert math_index_from_0(r"$\sum_{k=0}^{K-1} w_k x_{l+k}$")
    assert math_index_from_0(r"for $n = 0, \dots, N-1$")
    assert math_index_from_0(r"$\sum_{n=1}^{N} g_{nm}$, $x_0$, $h = 0.1$, $x = 0$") == []


_DETECTORS = {
    "fd_step": lambda code, md: epsilon_as_step(code, md),
    "direction": lambda code, md: directions_not_named_dir(code),
    "kronecker": lambda code, md: iverson_for_equal_indices(md),
    "index_base": lambda code, md: math_index_from_0(md),
}


def _ch56_cases():
    for rule in _DETECTORS:
        for path in CHAPTERS + [NOTATION]:
            marks = ()
            if (rule, path.stem) in PENDING_CH56:
                marks = pytest.mark.xfail(strict=True, reason=PENDING_CH56[(rule, path.stem)])
            yield pytest.param(rule, path, marks=marks, id=f"{rule}-{path.stem}")


@pytest.mark.parametrize("rule,path", list(_ch56_cases()))
def test_book_wide_notation_rules_of_chapters_5_and_6(rule, path):
    code = "\n".join(_cells(path, "code"))
    markdown = "\n".join(_cells(path, "markdown"))
    hits = _DETECTORS[rule](code, markdown)
    assert hits == [], f"{path.name}: {rule}: {hits}"


# ============================================== chapters 1 and 2 (issue 21 §4: u, C and b)
# u is the unit roundoff (chapter 1), never a function u(x) (the product rule's factors are
# phi and psi); in chapter 1's error model the constants are kappa and r, because C counts
# classes and b is the bias.

_U_FUNCTION = re.compile(r"(?<![\\\w])u'*\(\s*[a-z]\s*\)")
_ERROR_MODEL_C_B = re.compile(r"E\(h\)\s*(?:\\approx|=)\s*(?:C|b)\b|(?<![\\\w])C\s*(?:\\,)?\s*h\b|\bb\s*/\s*h\b")


def u_as_function(markdown: str) -> list[str]:
    """``u(x)``, ``u'(x)``: u used as a function, where it is the unit roundoff."""
    return [m.group(0) for math in _math(markdown) for m in _U_FUNCTION.finditer(math)]


def error_model_c_or_b(markdown: str) -> list[str]:
    """The finite-difference error model written with C (the number of classes) or b (the
    bias) as its constants: ``E(h) = Ch + b/h``, ``C\\,h^{p}``."""
    return [m.group(0) for math in _math(markdown) for m in _ERROR_MODEL_C_B.finditer(math)]


@pytest.mark.parametrize("markdown", [r"$\frac{d}{dx}(u(x)\,v(x)) = u'(x)\,v(x)$",
                                      r"$E(h) = Ch + b/h$", r"$$E(h) \approx C\,h^{p} + u|f|/h$$"])
def test_u_and_error_model_detectors_find(markdown):
    assert u_as_function(markdown) or error_model_c_or_b(markdown)


@pytest.mark.parametrize("markdown", [r"$u = 2^{-53}$, $u\,|f(x)|/h$, $\varphi(x)\,\psi(x)$",
                                      r"$E(h) = \kappa h + r/h$, $Y = XW + b$, $C$ classes"])
def test_u_and_error_model_detectors_ignore(markdown):
    assert u_as_function(markdown) == [] and error_model_c_or_b(markdown) == []


@pytest.mark.parametrize("path", _PAGES, ids=lambda p: p.stem)
def test_u_is_the_unit_roundoff_and_the_error_model_has_its_own_constants(path):
    markdown = "\n".join(_cells(path, "markdown"))
    assert u_as_function(markdown) == [], f"{path.name}: u is the unit roundoff, not a function"
    assert error_model_c_or_b(markdown) == [], (
        f"{path.name}: the error model's constants are kappa and r (C counts classes, b is the bias)")
