"""Graded checks for platforms that grade in the student's kernel (nbgrader).

:func:`graded_check` runs an exercise's cases -- the self-check's seed, or another seed for
a hidden test -- in-process with :func:`helpers.harness.run_case` and judges them with the
one judge, :func:`helpers.exercises.core.verdict`. Unlike the self-check it never returns
quietly: the stub raises ``AssertionError("... not implemented yet")``, so an autograder
cell scores 0 for it.
"""

from __future__ import annotations

from typing import Callable

from ..harness import run_case
from .core import EXERCISES, verdict

__all__ = ["graded_check"]


def graded_check(label: str, fn: Callable, seed: int | None = None) -> bool:
    """True if ``fn`` is right on the cases of ``label`` drawn from ``seed`` (default: the
    self-check's seed); else ``AssertionError`` with the diagnosis.

    Raises
    ------
    ValueError
        If ``label`` is not an exercise of the book.
    """
    __tracebackhide__ = True
    if label not in EXERCISES:
        raise ValueError(f"unknown exercise {label!r}; expected one of {sorted(EXERCISES)}")
    ex = EXERCISES[label]
    cases = ex.cases(ex.seed if seed is None else seed)
    records = []
    for case in cases:
        records.append(run_case(fn, case, ex.args))
        if records[-1]["status"] != "ok":
            break
    records += [{"status": "ok", "value": {"t": "none"}}] * (len(cases) - len(records))
    ok, text = verdict(label, cases, records)
    if ok is None:
        raise AssertionError(f"{label}: not implemented yet (replace the NotImplementedError "
                             f"with your code)")
    if not ok:
        raise AssertionError(text)
    print(f"{label}: correct on {text}")
    return True
