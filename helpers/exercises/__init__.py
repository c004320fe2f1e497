"""The code exercises: one module per chapter, the shared machinery in :mod:`.core`.

Where to look:

- the checker of an exercise is in the module of its chapter: ``ex-linear-vjp`` and
  ``check_linear_vjp`` are in :mod:`helpers.exercises.ch05`, ``ex-more-conv1d-vjp`` in
  :mod:`helpers.exercises.ch08`;
- what every checker shares -- :class:`~.core.Exercise`, :class:`~.core.Policy`,
  :func:`~.core.register`, the records as data, :func:`~.core.verdict` (the one judge the
  self-check cells and the grader both call) and the diagnosing :func:`~.core.close` -- is
  in :mod:`helpers.exercises.core`.

A chapter imports its self-checks from here (``from helpers.exercises import
check_linear_vjp``); this package imports every ``chNN`` module, so :data:`EXERCISES`
holds every exercise of the book.

A self-check ``check_<helper>(fn)`` runs ``fn`` on several random, non-square cases in
float64 and judges each result against the helper it re-implements. It prints a one-line
confirmation and returns True when right, prints "not implemented yet" and returns False
when ``fn`` raises ``NotImplementedError``, and raises ``AssertionError`` with a diagnosis
otherwise: the classic mistake when the wrong answer matches a known wrong variant (a
missing or extra transpose, a sum over the wrong axis, a missing or extra 1/N, a flipped
sign, a wrong shape, ``None``, a tuple of the wrong length or order, NaN/inf, float32, an
exception with the student's line) and, when a case tests a requirement the exercise
states (leading dims ``(*, D)``, any rank, N = 1, M = 1), which.

How to add an exercise -- it touches the chapter's module only (plus its tests and the
instructors' page):

1. in ``helpers/exercises/chNN.py`` (create it for a new chapter: it is found by name),
   write ``_cases_x(seed)`` returning a list of ``case(inputs, desc, note)``; use
   ``generator(seed)``/``rand`` and non-square sizes; give ``note`` to the cases that test
   a stated requirement (its text must name the requirement). An input that is a function
   is a spec that :func:`helpers.harness.build` rebuilds (add it there);
2. write ``_judge_x(case, value)``: expected = the helper on ``case["inputs"]``, then
   ``close(label, what, value, expected, variants=[(message, wrong value), ...])``
   (``unpack`` first for a tuple);
3. ``check_x = register(Exercise(label, func, chapter, "check_x", args, _cases_x,
   _judge_x, done, seed, policy, reference), doc=...)`` and list ``check_x`` in the
   module's ``__all__``;
4. add a row to reference/instructors.md and wrong solutions to tests/test_checks.py.
"""

from __future__ import annotations

import importlib
import pkgutil

from .core import CHECKERS, EXERCISES, BadRecord, Exercise, Policy, validate_record, verdict

_CHAPTERS = sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("ch"))
for _name in _CHAPTERS:
    _module = importlib.import_module(f"{__name__}.{_name}")
    for _check in _module.__all__:
        globals()[_check] = getattr(_module, _check)

__all__ = ["CHECKERS", "EXERCISES", "BadRecord", "Exercise", "Policy", "validate_record",
           "verdict", *sorted(ex.checker_name for ex in EXERCISES.values())]

del _name, _module, _check
