"""The trusted harness of the exercise checkers: calls a student's function on one case.

A *case* (see :mod:`helpers.exercises`) is pure data: a dict whose ``"inputs"`` maps each
argument's name to a tensor, a number, or a *function spec* -- a small dict such as
``{"fn": "tanh_matvec", "A": A}`` that :func:`build` turns into the function
``x -> tanh(A @ x)``. :func:`run_case` calls the student's function on fresh copies of
the inputs and returns a *record*, again pure data (str, int, float, bool, None,
lists, dicts and plain tensors), that :func:`helpers.exercises.verdict` judges:

- ``{"status": "ok", "value": V}`` with ``V`` from :func:`encode` (and, when the case
  passes a function, ``"calls": {"n": count, "args": [[encoded argument, ...], ...]}``);
- ``{"status": "notyet"}`` (the stub's ``NotImplementedError``);
- ``{"status": "error", "type": ..., "message": ..., "where": ...}``.

This module imports only torch and the standard library and contains no reference
implementation: the grader copies this one file into its sandbox, where the book's
helpers are not visible (``booktools.grade``). The self-check cells use it in-process.
"""

from __future__ import annotations

import math
import os
import traceback

import torch

__all__ = ["SCALAR_FUNCTIONS", "build", "encode", "prepare", "run_case"]

#: scalar functions of chapter 1's exercise, by name (a case names them, as data)
SCALAR_FUNCTIONS = {
    "sin": math.sin,
    "exp": math.exp,
    "cube": lambda t: t ** 3,
}

#: at most this many entries in a returned tuple or list are recorded
MAX_ITEMS = 16

_HERE = os.path.dirname(os.path.abspath(__file__))


def build(spec):
    """The function a function spec describes (trusted code, rebuilt in any process)."""
    kind = spec["fn"]
    if kind in SCALAR_FUNCTIONS:
        return SCALAR_FUNCTIONS[kind]
    if kind == "tanh_matvec":  # f(x) = tanh(A @ x), (D,) -> (M,) for A of shape (M, D)
        A = spec["A"].clone()
        return lambda v: torch.tanh(A @ v)
    raise ValueError(f"unknown function spec {kind!r}")


#: at most this many calls of a given function have their arguments recorded
MAX_CALLS = 64


def _traced(f, calls: dict):
    """``f``, counting its calls and recording the arguments of the first :data:`MAX_CALLS`
    (as encoded values): where an exercise forbids finite differences, the verdict looks
    for a call at a point other than the case's input (:func:`helpers.exercises.verdict`)."""
    def traced(*a, **k):
        calls["n"] += 1
        if len(calls["args"]) < MAX_CALLS:
            calls["args"].append([encode(x, depth=1) for x in a[:4]])
        return f(*a, **k)
    return traced


def prepare(case: dict, args, calls: dict | None = None) -> list:
    """The arguments of the student's call: copies of the tensors, specs built (and traced
    into ``calls`` when it is given)."""
    out = []
    for name in args:
        v = case["inputs"][name]
        if isinstance(v, dict) and "fn" in v:
            v = build(v)
            if calls is not None:
                v = _traced(v, calls)
        elif isinstance(v, torch.Tensor):
            v = v.clone()
        out.append(v)
    return out


def encode(value, depth: int = 0):
    """``value`` (what the student's function returned) as pure data."""
    if value is None:
        return {"t": "none"}
    if isinstance(value, torch.Tensor):
        if type(value) is not torch.Tensor and type(value) is not torch.nn.Parameter:
            return {"t": "other", "type": f"a torch.Tensor subclass ({type(value).__name__})"}
        t = torch.Tensor.detach(value)
        if t.layout != torch.strided or t.device.type != "cpu" or t.is_quantized:
            return {"t": "other", "type": f"a {t.layout} tensor on {t.device}"}
        return {"t": "tensor", "v": t.clone().as_subclass(torch.Tensor)}
    if isinstance(value, bool):
        return {"t": "other", "type": "bool"}
    if isinstance(value, (int, float)):  # includes numpy.float64 (a float subclass)
        return {"t": "num", "v": float(value), "type": type(value).__name__}
    if isinstance(value, (tuple, list)) and depth == 0:
        return {"t": "seq", "type": type(value).__name__, "len": len(value),
                "v": [encode(v, depth + 1) for v in list(value)[:MAX_ITEMS]]}
    return {"t": "other", "type": type(value).__name__}


def _student_line(exc: BaseException) -> str:
    """Where in the student's code ``exc`` was raised: `` (in my_f, line 3: `code`)``."""
    frames = traceback.extract_tb(exc.__traceback__)
    own = [fr for fr in frames
           if not fr.filename.startswith(_HERE)
           and "site-packages" not in fr.filename and "dist-packages" not in fr.filename]
    if not own:
        return ""
    fr = own[-1]
    code = f": `{fr.line.strip()}`" if fr.line else ""
    return f" (in {fr.name}, line {fr.lineno}{code})"


def run_case(fn, case: dict, args) -> dict:
    """Call ``fn`` on the case; return the record (never raises for the student's errors)."""
    calls = {"n": 0, "args": []}
    traced = any(isinstance(v, dict) and "fn" in v for v in case["inputs"].values())
    try:
        value = fn(*prepare(case, args, calls))
    except NotImplementedError:
        return {"status": "notyet"}
    except Exception as exc:  # noqa: BLE001 - the student's code failed: record it
        text = str(exc).strip()
        return {"status": "error", "type": type(exc).__name__,
                "message": text.splitlines()[0][:500] if text else "",
                "where": _student_line(exc)[:500]}
    record = {"status": "ok", "value": encode(value)}
    if traced:  # the calls of the function the case passed (finite differences?)
        record["calls"] = {"n": calls["n"], "args": calls["args"]}
    return record
