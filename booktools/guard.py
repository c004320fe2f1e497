"""The runtime guard (issue 23): what the static pass cannot see, caught as it runs.

Imports only torch (it is meant to be copied into the sandbox beside the harness, like
``_book_harness.py``, and armed by the trusted first cell before the student's code).
:func:`guarded` runs a call under ``torch.inference_mode()`` (no graph can be recorded),
a ``TorchFunctionMode`` that rejects autograd-engine entry points, ``torch.func``
transforms and the exercise's forbidden names however they were looked up (``getattr``
with a built string, ``methodcaller``, ...), a ``TorchDispatchMode`` that rejects every
``*_backward`` aten op, and a saved-tensor hook that fires when autograd records a graph.
Each violation is appended to the guard's record before the exception is raised, so a
submission that catches the exception still leaves the record (its verdict: fail).
"""

from __future__ import annotations

import contextlib

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["Guard", "GuardViolation", "guarded"]

#: the function names of the autograd engine and of torch.func (by ``__name__``)
AUTOGRAD_NAMES = {"backward", "grad", "vjp", "jvp", "jacrev", "jacfwd", "vmap", "hessian",
                  "jacobian", "functional_call", "requires_grad_", "retain_grad",
                  "register_hook", "_make_grads", "run_backward"}


class GuardViolation(RuntimeError):
    """A call the exercise forbids, caught at run time."""


class Guard:
    def __init__(self, *, autograd: bool = False, forbidden=(), op_budget=None):
        self.autograd = autograd
        self.forbidden = set(forbidden)
        self.op_budget = op_budget  # tensor operations per guarded call (None: no limit)
        self.ops = 0
        self.record: list[str] = []  # what was refused, in order (read by the trusted cell)

    def refuse(self, what: str):
        self.record.append(what)
        raise GuardViolation(f"the grader's runtime guard refused {what}: this exercise "
                             f"forbids it")


class _Functions(TorchFunctionMode):
    def __init__(self, guard):
        super().__init__()
        self.guard = guard

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "") or ""
        if getattr(func, "__get__", None) is not None and hasattr(func, "__self__"):
            pass
        bad = (name in self.guard.forbidden
               or (not self.guard.autograd and name in AUTOGRAD_NAMES)
               or name in {"vjp", "jvp", "jacrev", "jacfwd", "vmap", "functional_call"})
        if bad:
            self.guard.refuse(f"`{name}`")
        return func(*args, **(kwargs or {}))


class _Dispatch(TorchDispatchMode):
    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # TorchDispatchMode otherwise wraps __torch_dispatch__ in torch._disable_dynamo,
        # whose first call imports torch._dynamo (about 800 modules, 5 s on a loaded
        # 2-core machine: most of a grading cell's time limit). The guard never runs under
        # torch.compile, so there is nothing to disable (tests/test_grade_policy.py)
        return False

    def __init__(self, guard):
        super().__init__()
        self.guard = guard

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func.name()) if hasattr(func, "name") else str(func)
        if not self.guard.autograd and "backward" in name:
            self.guard.refuse(f"the aten op `{name}`")
        budget = self.guard.op_budget
        if budget is not None:
            self.guard.ops += 1
            if self.guard.ops == budget + 1:  # refused once; the exception stops the call
                self.guard.refuse(f"more than {budget} tensor operations in one call "
                                  f"(finite differences, one evaluation per entry?)")
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def guarded(guard: Guard):
    """Everything inside runs under the guard's modes (see the module docstring)."""
    def pack(t):
        guard.refuse("recording an autograd graph")

    guard.ops = 0  # the budget counts one call
    with contextlib.ExitStack() as stack:
        if not guard.autograd:
            stack.enter_context(torch.inference_mode())
            stack.enter_context(torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t))
        stack.enter_context(_Functions(guard))
        stack.enter_context(_Dispatch(guard))
        yield guard
