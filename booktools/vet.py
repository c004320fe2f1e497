"""Static vetting of a submitted exercise cell: the grader's delegation detector.

The grader runs, for each code exercise, only the cell of the submission that defines
the student's function (the last code cell with a top-level ``def my_...`` or
``my_... = ...``), and only that cell's imports, definitions and the assignments they
use (see :func:`extract`). Before it runs, :func:`vet` reads the code (it never runs
it) and rejects, with a diagnosis:

- delegation to the book: any reference to ``helpers`` or ``booktools``, or to a
  name the helpers export (``linear_vjp``, ``contract``, ...) that the cell does not
  define itself;
- what the exercise forbids (:class:`helpers.exercises.Policy`): ``torch.autograd``,
  ``torch.func``, ``.backward()``, ``requires_grad``... unless the exercise allows
  autograd; names its text rules out (``einsum``, ``softmax``, ``jacrev``...);
- anything it cannot vet: ``exec``/``eval``/``compile``, ``getattr``/``setattr``/
  ``vars``/``globals``, ``__import__``, ``open``, attributes starting with ``_``
  (``__globals__``, ``torch._C``), modules that reach other modules or the
  machine (``sys``, ``os``, ``importlib``, ``builtins``, ``gc``, ``inspect``...),
  imports of any module the exercise does not allow, and names the cell uses but
  does not define (the grader runs this cell alone).

Everything a name can reach is known statically once strings cannot be turned into
names (no getattr, eval, import machinery, ``__dict__``), which is why those are
refused outright rather than inspected.
"""

from __future__ import annotations

import ast
import builtins
import re

__all__ = ["FORBIDDEN_SYNTAX", "Rejected", "extract", "find_cell", "vet"]

#: builtins a cell may use (no getattr/eval/open/...: see the module docstring)
SAFE_BUILTINS = {
    "abs", "all", "any", "bool", "callable", "chr", "complex", "dict", "divmod",
    "enumerate", "filter", "float", "format", "frozenset", "hasattr", "hash", "int",
    "isinstance", "issubclass", "iter", "len", "list", "map", "max", "min", "next",
    "object", "ord", "pow", "print", "range", "repr", "reversed", "round", "set",
    "slice", "sorted", "str", "sum", "tuple", "type", "zip", "property", "staticmethod",
    "classmethod", "super", "bin", "hex", "oct", "True", "False", "None", "Ellipsis",
    "NotImplemented",
} | {n for n in dir(builtins) if n.endswith(("Error", "Exception", "Warning"))
     or n in ("StopIteration", "KeyboardInterrupt")}

#: modules any exercise's cell may import (besides those of its policy)
ALWAYS_MODULES = {"__future__", "typing", "math", "functools", "itertools", "numbers"}

#: identifiers never allowed (as names or attributes): they reach other modules, the
#: machine, or turn strings into names, so nothing behind them can be vetted
UNVETTABLE = {
    "exec", "eval", "compile", "getattr", "setattr", "delattr", "vars", "globals",
    "locals", "open", "input", "breakpoint", "memoryview", "help", "dir", "exit", "quit",
    "sys", "os", "importlib", "import_module", "builtins", "modules", "gc", "inspect",
    "ctypes", "subprocess", "io", "pathlib", "shutil", "socket", "pickle", "marshal",
    "types", "weakref", "threading", "multiprocessing", "signal", "runpy", "pkgutil",
    "site", "code", "codeop", "get_ipython", "load", "save", "hub", "package", "jit",
    "ops", "library", "overrides", "utils", "fx", "export", "classes", "serialization",
    "cpp_extension", "load_inline", "from_file", "fromfile", "tofile", "distributed",
    "compiler", "_dynamo", "storage", "untyped_storage", "data_ptr",
    # typing evaluates string annotations
    "get_type_hints", "ForwardRef", "get_annotations", "evaluate_forward_ref",
    "cell_contents", "with_traceback",
}
#: attributes of frames, tracebacks, generators and code objects (they reach the
#: kernel's globals and, through them, the builtins)
_FRAME_ATTR = re.compile(r"^(f|tb|gi|cr|ag|co)_")

#: identifiers that are autograd (forbidden unless the exercise allows autograd)
AUTOGRAD = {"autograd", "backward", "grad", "grad_fn", "requires_grad", "requires_grad_",
            "retain_grad", "register_hook", "enable_grad", "set_grad_enabled", "func",
            "vjp", "jvp", "jacrev", "jacfwd", "jacobian", "hessian", "vmap", "functional_call",
            "Function", "gradcheck"}
#: with autograd allowed: the ready-made Jacobian tools stay forbidden
JACOBIAN_TOOLS = {"functional", "func", "jacobian", "jacrev", "jacfwd", "vjp", "jvp",
                  "hessian", "hvp", "vhp", "vmap", "functional_call"}

_MAGIC = re.compile(r"^\s*[%!]")


class Rejected(Exception):
    """The cell cannot be graded; the message is the diagnosis (without the label)."""


def _lines(source: str) -> list[str]:
    # IPython magics (%timeit, !ls) are not Python: blank those lines (they never count)
    return ["" if _MAGIC.match(ln) else ln for ln in source.splitlines()]


#: the largest cell the grader parses (a 6 MB list literal took 3 GB to parse in-process;
#: a solution is a few hundred bytes)
MAX_CELL_CHARS = 100_000


def _parse(source: str, what: str) -> ast.Module:
    if len(source) > MAX_CELL_CHARS:
        raise Rejected(f"{what} has {len(source)} characters (at most {MAX_CELL_CHARS}): "
                       f"the grader does not read it")
    try:
        return ast.parse("\n".join(_lines(source)))
    except SyntaxError as exc:
        raise Rejected(f"{what} is not valid Python (line {exc.lineno}: {exc.msg})") from None


def _defines(tree: ast.Module, func: str) -> bool:
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == func:
            return True
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == func
                                                for t in node.targets):
            return True
    return False


def find_cell(cells: list, func: str) -> str | None:
    """The source of the last code cell defining ``func`` at top level, else None."""
    found = None
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else str(src)
        try:
            tree = _parse(src, "the cell")
        except Rejected:
            if re.search(rf"^(def\s+{re.escape(func)}\s*\(|{re.escape(func)}\s*=)", src, re.M):
                found = src  # it will be rejected with the syntax error
            continue
        if _defines(tree, func):
            found = src
    return found


_KEEP = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
         ast.Assign, ast.AnnAssign)


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def extract(source: str, func: str) -> str:
    """The part of the cell the grader runs: imports, definitions, and the assignments
    they use (``print(...)``, tests and other top-level statements are dropped)."""
    tree = _parse(source, f"the cell defining {func}")
    body = [n for n in tree.body if isinstance(n, _KEEP)
            and not (isinstance(n, ast.Expr))]
    # drop assignments nothing kept uses (e.g. `out = my_f(X)`, a test of the student's)
    while True:
        used = set()
        for n in body:
            if isinstance(n, (ast.Assign, ast.AnnAssign)):
                used |= _names(n.value) if n.value is not None else set()
            else:
                used |= _names(n)
        used.add(func)
        dead = [n for n in body if isinstance(n, (ast.Assign, ast.AnnAssign))
                and not (_targets(n) & used)]
        if not dead:
            break
        body = [n for n in body if n not in dead]
    # the kept statements at their own lines, so that diagnoses give the cell's line numbers
    lines = _lines(source)
    keep = {i for n in body for i in range(n.lineno, n.end_lineno + 1)}
    drop = {i for n in tree.body if n not in body for i in range(n.lineno, n.end_lineno + 1)}
    if keep & drop:  # statements sharing a line (`a; b`): give up the line numbers
        return ast.unparse(ast.Module(body=body, type_ignores=[]))
    return "\n".join(ln if i + 1 not in drop else "" for i, ln in enumerate(lines))


def _targets(node) -> set[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _bound(tree: ast.Module) -> set[str]:
    """Every name the cell binds anywhere (assignments, defs, args, imports, ...)."""
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            out.add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(n.name)
        elif isinstance(n, ast.arg):
            out.add(n.arg)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            for a in n.names:
                out.add((a.asname or a.name).split(".")[0])
        elif isinstance(n, ast.ExceptHandler) and n.name:
            out.add(n.name)
        elif isinstance(n, (ast.MatchAs, ast.MatchStar)) and n.name:
            out.add(n.name)
    return out


#: names that exist in the kernel (IPython's, builtins the grader cannot vet): a cell may
#: neither use nor bind them, so that every name it uses resolves to its own definitions,
#: the provided modules or a safe builtin
KERNEL_NAMES = (set(dir(builtins)) - SAFE_BUILTINS) | {"In", "Out", "get_ipython", "exit",
                                                       "quit", "display"}


def _check_name(name: str, line, *, store: bool) -> None:
    if name == "_" and store:
        return
    if name.startswith("_"):
        raise Rejected(f"line {line}: the name `{name}` starts with _; the grader cannot vet "
                       f"such names (IPython and the grader use them): rename it")
    if name in KERNEL_NAMES:
        raise Rejected(f"line {line}: it uses `{name}`, a name the grader cannot vet (it "
                       f"reaches the interpreter or the kernel); rename or remove it")


def vet(code: str, *, func: str, policy, reference_names: set[str],
        provided: set[str]) -> None:
    """Raise :class:`Rejected` naming the first thing in ``code`` the policy forbids.

    ``code`` is what :func:`extract` returned; ``policy`` a
    :class:`helpers.exercises.Policy`; ``reference_names`` the names the book's helpers
    export; ``provided`` the names the grader defines before the cell (the modules of
    the policy, e.g. ``torch`` and ``math``).
    """
    tree = ast.parse(code)
    if not _defines(tree, func):
        raise Rejected(f"the cell does not define {func} at top level")
    forbidden = set(UNVETTABLE) | {"helpers", "booktools"} | set(policy.forbidden)
    forbidden |= JACOBIAN_TOOLS if policy.autograd else AUTOGRAD
    allowed_modules = ALWAYS_MODULES | set(policy.modules)
    bound = _bound(tree)

    def why(name: str) -> str:
        book = (f"it refers to `{name}`, the book's own code: the exercise asks you to "
                f"write it yourself (delegation gets no credit)")
        if name in ("helpers", "booktools"):
            return book
        if name in policy.forbidden or (policy.autograd and name in JACOBIAN_TOOLS):
            return f"it uses `{name}`, which this exercise forbids: {policy.text}"
        if name in AUTOGRAD and not policy.autograd:
            return (f"it uses `{name}` (autograd), which this exercise forbids: "
                    f"{policy.text}")
        if name in reference_names:
            return book
        return (f"it uses `{name}`, which the grader cannot vet (it reaches other modules "
                f"or turns strings into names); write the computation with torch and math")

    for node in ast.walk(tree):
        line = getattr(node, "lineno", "?")
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if isinstance(node, ast.ImportFrom) and node.level:
                raise Rejected(f"line {line}: a relative import, which the grader cannot vet")
            mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                    else [node.module or ""])
            for mod in mods:
                parts = mod.split(".")
                if parts[0] in ("helpers", "booktools"):
                    raise Rejected(f"line {line}: {why(parts[0])}")
                if parts[0] not in allowed_modules:
                    raise Rejected(
                        f"line {line}: it imports `{mod}`; this exercise's function may "
                        f"import only {', '.join(sorted(allowed_modules))}")
                for p in parts[1:]:
                    if p in forbidden or p.startswith("_"):
                        raise Rejected(f"line {line}: {why(p)}")
            for a in node.names:
                if a.asname:
                    _check_name(a.asname, line, store=True)
            if isinstance(node, ast.ImportFrom):
                for a in node.names:
                    if a.name == "*":
                        raise Rejected(f"line {line}: `from {node.module} import *`, which "
                                       f"the grader cannot vet; import the names you use")
                    if a.name in forbidden or a.name.startswith("_"):
                        raise Rejected(f"line {line}: {why(a.name)}")
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                raise Rejected(f"line {line}: it uses the attribute `{node.attr}`, which the "
                               f"grader cannot vet (attributes starting with _ reach "
                               f"interpreter internals)")
            if _FRAME_ATTR.match(node.attr):
                raise Rejected(f"line {line}: it uses the attribute `{node.attr}` (frames and "
                               f"code objects reach the interpreter), which the grader "
                               f"cannot vet")
            if node.attr in forbidden:
                raise Rejected(f"line {line}: {why(node.attr)}")
        elif isinstance(node, ast.Name):
            _check_name(node.id, line, store=not isinstance(node.ctx, ast.Load))
            name = node.id
            if isinstance(node.ctx, ast.Load) and name not in bound \
                    and name not in SAFE_BUILTINS and name not in provided:
                if name in forbidden or name in reference_names:
                    raise Rejected(f"line {line}: {why(name)}")
                if name in ("torch", "numpy", "np"):
                    raise Rejected(f"line {line}: it uses `{name}`, which this exercise does "
                                   f"not allow: {policy.text}")
                raise Rejected(
                    f"line {line}: it uses `{name}`, which this cell does not define: the "
                    f"grader runs only the cell that defines {func}, so define or import "
                    f"everything your function needs in that cell")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            _check_name(node.name, line, store=True)
        elif isinstance(node, ast.arg):
            _check_name(node.arg, line, store=True)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            _check_name(node.name, line, store=True)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            pass
        elif isinstance(node, ast.keyword) and node.arg and node.arg.startswith("__"):
            raise Rejected(f"line {line}: the keyword `{node.arg}`, which the grader cannot vet")
    _allowlist(tree, policy)  # after the denylist, whose diagnoses are more specific


# ------------------------------------------------------------------ the allowlist pass

#: syntax no exercise's cell may use: ``match`` destructures objects by attribute name
#: (``case object(autograd=...)``) past any name check; classes, generators and async
#: code reach frames, descriptors and library code (``type("F", (Base,), {...})``)
FORBIDDEN_SYNTAX = {
    "Match": "`match`", "ClassDef": "a class", "AsyncFunctionDef": "async code",
    "Await": "async code", "AsyncFor": "async code", "AsyncWith": "async code",
    "Yield": "a generator (`yield`)", "YieldFrom": "a generator (`yield from`)",
    "Global": "`global`", "Nonlocal": "`nonlocal`", "TryStar": "`except*`",
}
#: names a cell may import from the always-allowed modules (besides the policy's allowlist)
IMPORTABLE = {
    "__future__": {"annotations"},
    "typing": {"Tuple", "List", "Optional", "Callable", "Sequence", "Union", "Any", "Dict"},
    "math": {n for n in dir(__import__("math")) if not n.startswith("_")},
    "functools": {"reduce"},
    "itertools": {"product", "combinations", "permutations", "chain", "accumulate"},
    "numbers": {"Number", "Real"},
}
_MATH = IMPORTABLE["math"]


def _allowlist(tree: ast.Module, policy) -> None:
    """Reject syntax outside the allowed node types and every attribute or imported name
    outside ``policy.allowed()`` (the exercise's allowlist), naming it and what is allowed."""
    if getattr(policy, "allow", None) is None:
        return  # an exercise without an allowlist: only the denylist below applies
    allowed = set(policy.allowed()) | _MATH
    if "torch" in policy.modules:
        allowed.add("torch")
    what = policy.allow_text()
    for node in ast.walk(tree):
        line = getattr(node, "lineno", "?")
        kind = type(node).__name__
        if kind in FORBIDDEN_SYNTAX:
            raise Rejected(f"line {line}: it uses {FORBIDDEN_SYNTAX[kind]}, which no exercise "
                           f"allows (write the function with plain statements); this "
                           f"exercise allows {what}")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == "type" and len(node.args) != 1:
            raise Rejected(f"line {line}: it calls `type` with {len(node.args)} arguments "
                           f"(building a class), which no exercise allows")
        if isinstance(node, ast.Attribute) and node.attr not in allowed:
            raise Rejected(f"line {line}: it uses `.{node.attr}`, which is not on this "
                           f"exercise's allowlist; it allows {what}")
        if isinstance(node, ast.ImportFrom) and not node.level:
            ok = IMPORTABLE.get(node.module or "", set()) | allowed
            for a in node.names:
                if a.name != "*" and a.name not in ok and not (
                        a.name in FORBIDDEN_NAMES_HINT):
                    raise Rejected(f"line {line}: it imports `{a.name}` from "
                                   f"`{node.module}`, which is not on this exercise's "
                                   f"allowlist; it allows {what}")
        if isinstance(node, ast.Import):
            for a in node.names:
                for part in a.name.split(".")[1:]:
                    if part not in allowed:
                        raise Rejected(f"line {line}: it imports `{a.name}`: `{part}` is not "
                                       f"on this exercise's allowlist; it allows {what}")


#: imported names left to the denylist's own (more specific) diagnosis
FORBIDDEN_NAMES_HINT = AUTOGRAD | JACOBIAN_TOOLS | UNVETTABLE
