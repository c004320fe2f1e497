"""Symbolic (sympy) derivation of the linear layer's gradients (chapter 5).

For small sizes N, D, M this module writes the linear layer ``Y = X W + b`` with
one symbol per entry (``x_{ij}``, ``w_{ij}``, ``b_{j}``, ``g_{ij}``, indices 1-based
as in the printed math), differentiates it entry by entry, and checks that the
result equals the closed forms ``G W^T``, ``X^T G`` and the column sums of ``G``;
:func:`check_deltas` checks the index-notation derivatives ``dy_nm/dx_pd = delta_np w_dm``,
``dy_nm/dw_dk = x_nd delta_mk`` and ``dy_nm/db_k = delta_mk`` entry by entry.
What sympy proves here is a polynomial identity at the given sizes (for every value
of the symbols); the index-notation argument of chapter 5 covers every size.
The chapter displays LaTeX produced by the ``latex_*`` functions from the very
objects that :func:`simplifies_to` and the tests check, so the printed derivation
cannot drift from the verified one.

Conventions
-----------
- Matrices are :class:`sympy.Matrix`. ``X`` is ``(N, D)``, ``W`` is ``(D, M)``,
  ``G = dL/dY`` is ``(N, M)``. The bias ``b`` is stored as a ``(1, M)`` row matrix
  (sympy has no 1-D matrices) and added to every row of ``X W``.
- Python indices are 0-based: ``dY_dentry(S, "X", (0, 0))`` is dY/dx_{11}.
- :func:`numeric_linear_vjp` substitutes numbers from torch tensors and returns
  float64 tensors shaped like :func:`helpers.linear_vjp`'s result (``db`` is ``(M,)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
import torch

from .shapes import as_tensor, check_shape, fmt_shape

__all__ = [
    "LinearSymbols",
    "linear_symbols",
    "symbolic_forward",
    "dY_dentry",
    "grad_as_sums",
    "closed_form",
    "simplifies_to",
    "check_gradients",
    "derivative_entries",
    "delta_entries",
    "check_deltas",
    "substitute",
    "numeric_linear_vjp",
    "latex_matrix",
    "latex_entry_name",
    "latex_forward",
    "latex_dY_dentry",
    "latex_dL_dentry",
    "latex_gradient",
]

#: the three variables a gradient can be taken with respect to
VARIABLES = ("X", "W", "b")
#: largest size accepted: the symbolic matrices grow like N*D*M and only teach when small
MAX_SIZE = 9
_CLOSED_FORM_LATEX = {"X": r"G W^{\top}", "W": r"X^{\top} G", "b": r"\mathbf{1}^{\top} G"}


def _entry_symbols(letter: str, rows: int, cols: int) -> sp.Matrix:
    """Matrix of symbols ``letter_{ij}`` (1-based indices in the name)."""
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{letter}_{{{i + 1}{j + 1}}}"))


@dataclass(frozen=True)
class LinearSymbols:
    """The symbolic inputs of a linear layer of sizes N, D, M.

    Attributes
    ----------
    X : sympy.Matrix
        Shape ``(N, D)``, entries ``x_{ij}``.
    W : sympy.Matrix
        Shape ``(D, M)``, entries ``w_{ij}``.
    b : sympy.Matrix
        Shape ``(1, M)`` (a row), entries ``b_{j}``.
    G : sympy.Matrix
        Upstream gradient dL/dY, shape ``(N, M)``, entries ``g_{ij}``.
    """

    X: sp.Matrix
    W: sp.Matrix
    b: sp.Matrix
    G: sp.Matrix

    @property
    def N(self) -> int:
        return self.X.shape[0]

    @property
    def D(self) -> int:
        return self.X.shape[1]

    @property
    def M(self) -> int:
        return self.W.shape[1]

    def var(self, name: str) -> sp.Matrix:
        """The symbolic matrix of variable ``name`` ("X", "W" or "b")."""
        if name not in VARIABLES:
            raise ValueError(f"variable must be one of {VARIABLES}, got {name!r}")
        return getattr(self, name)


def linear_symbols(N: int, D: int, M: int) -> LinearSymbols:
    """Symbolic ``X`` (N, D), ``W`` (D, M), ``b`` (1, M) and ``G`` (N, M).

    Parameters
    ----------
    N, D, M : int
        Sizes, each between 1 and :data:`MAX_SIZE` (9, so that indices print as ``x_{12}``).

    Returns
    -------
    LinearSymbols

    Raises
    ------
    ValueError
        If a size is not an integer in ``[1, MAX_SIZE]``; the message names ``(N, D, M)``.
    """
    sizes = (N, D, M)
    if not all(isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= MAX_SIZE
               for s in sizes):
        raise ValueError(
            f"linear_symbols: sizes (N, D, M) = {sizes}; expected integers between 1 and "
            f"{MAX_SIZE}"
        )
    b = sp.Matrix(1, M, lambda _, j: sp.Symbol(f"b_{{{j + 1}}}"))
    return LinearSymbols(X=_entry_symbols("x", N, D), W=_entry_symbols("w", D, M), b=b,
                         G=_entry_symbols("g", N, M))


def symbolic_forward(S: LinearSymbols) -> sp.Matrix:
    """``Y = X W + b`` with ``b`` added to every row.

    Returns
    -------
    sympy.Matrix
        Shape ``(N, M)``; entry ``(n, m)`` is ``sum_d x_{nd} w_{dm} + b_m``.
    """
    return S.X * S.W + sp.ones(S.N, 1) * S.b


def _check_index(func: str, S: LinearSymbols, name: str, index) -> tuple[int, int]:
    V = S.var(name)
    if name == "b" and isinstance(index, int):
        index = (0, index)
    if (not isinstance(index, tuple) or len(index) != 2
            or not all(isinstance(i, int) for i in index)
            or not (0 <= index[0] < V.shape[0] and 0 <= index[1] < V.shape[1])):
        raise ValueError(
            f"{func}: index {index!r} does not fit {name} of shape {fmt_shape(V.shape)}; "
            f"expected a 0-based (row, column) pair" + (" or a column number" if name == "b" else "")
        )
    return index


def dY_dentry(S: LinearSymbols, name: str, index) -> sp.Matrix:
    """Derivative of the whole output ``Y`` with respect to one entry of an input.

    Parameters
    ----------
    S : LinearSymbols
    name : {"X", "W", "b"}
        The input.
    index : tuple of int, or int for ``b``
        0-based position of the entry, e.g. ``(0, 0)`` for ``x_{11}``.

    Returns
    -------
    sympy.Matrix
        Shape ``(N, M)`` (the shape of ``Y``): entry ``(n, m)`` is ``dy_{nm}/dv``.
    """
    i, j = _check_index("dY_dentry", S, name, index)
    return symbolic_forward(S).diff(S.var(name)[i, j])


def grad_as_sums(S: LinearSymbols, name: str) -> sp.Matrix:
    """dL/dV entry by entry by the chain rule, before any pattern is recognised.

    Entry ``(i, j)`` is ``sum_{n,m} g_{nm} dy_{nm}/dv_{ij}``: the dot product of ``G``
    with :func:`dY_dentry` (terms whose derivative is zero vanish).

    Returns
    -------
    sympy.Matrix
        The shape of the variable: ``(N, D)`` for X, ``(D, M)`` for W, ``(1, M)`` for b.
    """
    V = S.var(name)
    Y = symbolic_forward(S)
    out = sp.zeros(*V.shape)
    for i in range(V.shape[0]):
        for j in range(V.shape[1]):
            dY = Y.diff(V[i, j])
            out[i, j] = sp.Add(*[S.G[n, m] * dY[n, m] for n in range(S.N) for m in range(S.M)])
    return out


def closed_form(S: LinearSymbols, name: str) -> sp.Matrix:
    """The closed forms: ``G W^T`` (X), ``X^T G`` (W), column sums ``1^T G`` (b).

    Returns
    -------
    sympy.Matrix
        Shapes ``(N, D)``, ``(D, M)`` and ``(1, M)``.
    """
    S.var(name)  # validates the name
    if name == "X":
        return S.G * S.W.T
    if name == "W":
        return S.X.T * S.G
    return sp.ones(1, S.N) * S.G


def simplifies_to(got: sp.Matrix, expected: sp.Matrix) -> bool:
    """True when two symbolic matrices are equal as polynomials, entry by entry.

    Every entry here is a polynomial in the symbols, and expanding a polynomial
    gives a canonical form, so ``expand(got - expected) == 0`` decides equality exactly.

    Parameters
    ----------
    got, expected : sympy.Matrix
        Same shape.

    Returns
    -------
    bool
        False if some entry differs.

    Raises
    ------
    ValueError
        If the shapes differ (the message names both).
    """
    if got.shape != expected.shape:
        raise ValueError(
            f"simplifies_to: got has shape {fmt_shape(got.shape)}, "
            f"expected {fmt_shape(expected.shape)}"
        )
    return all(sp.expand(a - e) == 0 for a, e in zip(got, expected))


def check_gradients(S: LinearSymbols) -> bool:
    """Assert that :func:`grad_as_sums` equals :func:`closed_form` for X, W and b.

    Returns
    -------
    bool
        True.

    Raises
    ------
    AssertionError
        Naming the first variable whose sums do not simplify to the closed form.
    """
    for name in VARIABLES:
        if not simplifies_to(grad_as_sums(S, name), closed_form(S, name)):
            raise AssertionError(
                f"dL/d{name}: the chain-rule sums do not simplify to {_CLOSED_FORM_LATEX[name]}"
            )
    return True


def derivative_entries(S: LinearSymbols, name: str) -> dict:
    """Every ``dy_{nm}/dv`` of the symbolic forward pass, by sympy's differentiation.

    Parameters
    ----------
    S : LinearSymbols
    name : {"X", "W", "b"}

    Returns
    -------
    dict
        Keyed by 0-based index tuples: ``(n, m, p, d)`` for X (N, M, N, D), ``(n, m, d, k)``
        for W (N, M, D, M) and ``(n, m, k)`` for b (N, M, M), the generalized Jacobian's
        layout; values are sympy expressions.
    """
    V = S.var(name)
    Y = symbolic_forward(S)
    out = {}
    for i in range(V.shape[0]):
        for j in range(V.shape[1]):
            dY = Y.diff(V[i, j])
            for n in range(S.N):
                for m in range(S.M):
                    out[(n, m, j) if name == "b" else (n, m, i, j)] = dY[n, m]
    return out


def delta_entries(S: LinearSymbols, name: str) -> dict:
    """The same derivatives written with Kronecker deltas (index notation, chapter 5).

    ``dy_nm/dx_pd = delta_np w_dm``, ``dy_nm/dw_dk = x_nd delta_mk``, ``dy_nm/db_k = delta_mk``.

    Returns
    -------
    dict
        Same keys as :func:`derivative_entries`.
    """
    S.var(name)  # validates the name
    kd = sp.KroneckerDelta
    out = {}
    for key in derivative_entries(S, name):
        if name == "X":
            n, m, p, d = key
            out[key] = kd(n, p) * S.W[d, m]
        elif name == "W":
            n, m, d, k = key
            out[key] = S.X[n, d] * kd(m, k)
        else:
            n, m, k = key
            out[key] = kd(m, k)
    return out


def check_deltas(S: LinearSymbols) -> bool:
    """Assert that :func:`derivative_entries` equals :func:`delta_entries` for X, W and b.

    Each entry is compared as a polynomial (``expand(got - expected) == 0``), so this
    is an identity for every value of the symbols at the sizes of ``S``.

    Returns
    -------
    bool
        True.

    Raises
    ------
    AssertionError
        Naming the first variable and index whose derivative is not the delta form.
    """
    for name in VARIABLES:
        expected = delta_entries(S, name)
        for key, got in derivative_entries(S, name).items():
            if sp.expand(got - expected[key]) != 0:
                raise AssertionError(
                    f"dy/d{name} at index {key}: sympy gives {got}, the delta form {expected[key]}")
    return True


def _values(S: LinearSymbols, func: str, **tensors) -> dict:
    shapes = {"X": (S.N, S.D), "W": (S.D, S.M), "b": (S.M,), "G": (S.N, S.M)}
    letters = {"X": "(N, D)", "W": "(D, M)", "b": "(M,)", "G": "(N, M)"}
    values = {}
    for key, t in tensors.items():
        if t is None:
            continue
        if key not in shapes:
            raise TypeError(f"{func}: unknown variable {key!r}; expected X, W, b or G")
        as_tensor(func, key, t)
        check_shape(func, key, t, shapes[key],
                    f"{letters[key]} with (N, D, M) = {(S.N, S.D, S.M)}")
        sym = getattr(S, key)
        flat = t.detach().to(torch.float64).reshape(-1).tolist()
        values.update(zip(list(sym), flat))
    return values


def substitute(expr: sp.Matrix, S: LinearSymbols, *, X=None, W=None, b=None,
               G=None) -> torch.Tensor:
    """Replace the symbols of ``S`` by numbers from torch tensors.

    Parameters
    ----------
    expr : sympy.Matrix
        Any matrix built from the symbols of ``S``, shape ``(R, C)``.
    S : LinearSymbols
    X, W, b, G : torch.Tensor, optional
        Values, shapes ``(N, D)``, ``(D, M)``, ``(M,)``, ``(N, M)``. Every symbol that
        occurs in ``expr`` must be given a value.

    Returns
    -------
    torch.Tensor
        float64, shape ``(R, C)``, computed in float64 arithmetic (``sympy.lambdify``).

    Raises
    ------
    ValueError
        If a tensor's shape does not fit ``S`` (the message names both shapes) or a
        symbol of ``expr`` has no value.
    """
    values = _values(S, "substitute", X=X, W=W, b=b, G=G)
    missing = sorted(str(s) for s in expr.free_symbols if s not in values)
    if missing:
        raise ValueError(f"substitute: no value given for {', '.join(missing)}")
    syms = list(values)
    fn = sp.lambdify(syms, expr.tolist(), modules="math")
    rows = fn(*values.values())
    return torch.tensor(rows, dtype=torch.float64).reshape(expr.shape)


def numeric_linear_vjp(G: torch.Tensor, X: torch.Tensor, W: torch.Tensor):
    """The symbolic chain-rule sums evaluated at numbers: same API as ``linear_vjp``.

    Parameters
    ----------
    G : torch.Tensor
        Shape ``(N, M)``.
    X : torch.Tensor
        Shape ``(N, D)``.
    W : torch.Tensor
        Shape ``(D, M)``; N, D, M at most :data:`MAX_SIZE`.

    Returns
    -------
    dX, dW, db : torch.Tensor
        float64, shapes ``(N, D)``, ``(D, M)``, ``(M,)``.

    Raises
    ------
    ValueError
        If the shapes do not fit together (named in the message).
    """
    for name, t in (("G", G), ("X", X), ("W", W)):
        as_tensor("numeric_linear_vjp", name, t)
    if X.ndim != 2 or W.ndim != 2:
        raise ValueError(
            f"numeric_linear_vjp: X has shape {fmt_shape(X.shape)} and W {fmt_shape(W.shape)}; "
            "expected X (N, D) and W (D, M)"
        )
    N, D = X.shape
    M = W.shape[1]
    check_shape("numeric_linear_vjp", "W", W, (D, M), "(D, M) with D = X.shape[1]")
    check_shape("numeric_linear_vjp", "G", G, (N, M), "(N, M), the shape of Y")
    S = linear_symbols(N, D, M)
    dX = substitute(grad_as_sums(S, "X"), S, W=W, G=G)
    dW = substitute(grad_as_sums(S, "W"), S, X=X, G=G)
    db = substitute(grad_as_sums(S, "b"), S, G=G).reshape(M)
    return dX, dW, db


# ---------------------------------------------------------------- LaTeX for the chapter

def latex_matrix(A: sp.Matrix) -> str:
    """LaTeX of a sympy matrix with round brackets (``pmatrix``)."""
    return sp.latex(A, mat_str="pmatrix", mat_delim="")


def latex_entry_name(S: LinearSymbols, name: str, index) -> str:
    """LaTeX name of one entry, e.g. ``x_{11}`` for ``("X", (0, 0))``."""
    i, j = _check_index("latex_entry_name", S, name, index)
    return sp.latex(S.var(name)[i, j])


def _partial(num: str, den: str) -> str:
    return rf"\frac{{\partial {num}}}{{\partial {den}}}"


def latex_forward(S: LinearSymbols) -> str:
    r"""``Y = X W + b``, then ``= (...)`` with every entry written out (two aligned lines)."""
    return rf"\begin{{aligned}}Y &= XW + b\\ &= {latex_matrix(symbolic_forward(S))}\end{{aligned}}"


def latex_dY_dentry(S: LinearSymbols, name: str, index) -> str:
    r"""``\partial Y / \partial v = (...)``, the matrix of :func:`dY_dentry`."""
    v = latex_entry_name(S, name, index)
    return rf"{_partial('Y', v)} = {latex_matrix(dY_dentry(S, name, index))}"


def latex_dL_dentry(S: LinearSymbols, name: str, index) -> str:
    r"""dL/dv as the dot product of ``G`` with dY/dv, then its value.

    Two aligned lines: ``\partial L/\partial v = \sum_{n,m} g_{nm}\, \partial y_{nm}/\partial v
    = \operatorname{sum}(G \odot \partial Y/\partial v)``, then ``= ...`` the value.
    """
    i, j = _check_index("latex_dL_dentry", S, name, index)
    v = latex_entry_name(S, name, index)
    dY = dY_dentry(S, name, (i, j))
    prod = S.G.multiply_elementwise(dY)
    value = grad_as_sums(S, name)[i, j]
    return (rf"\begin{{aligned}}{_partial('L', v)} &= \sum_{{n,m}} g_{{nm}}\,"
            rf"{_partial('y_{nm}', v)} = \operatorname{{sum}}{latex_matrix(prod)}\\"
            rf" &= {sp.latex(value)}\end{{aligned}}")


def latex_gradient(S: LinearSymbols, name: str) -> str:
    r"""dL/dV as the matrix of chain-rule sums, then as the closed-form product.

    Two aligned lines: ``\partial L/\partial X = (sums)``, then ``= (G)(W^T) = G W^T``;
    for W the second line ends with ``X^T G`` and for b with ``1^T G`` (the column sums).
    """
    sums = latex_matrix(grad_as_sums(S, name))
    if name == "X":
        factors = latex_matrix(S.G) + latex_matrix(S.W.T)
    elif name == "W":
        factors = latex_matrix(S.X.T) + latex_matrix(S.G)
    else:
        factors = latex_matrix(sp.ones(1, S.N)) + latex_matrix(S.G)
    return (rf"\begin{{aligned}}{_partial('L', name)} &= {sums}\\"
            rf" &= {factors} = {_CLOSED_FORM_LATEX[name]}\end{{aligned}}")
