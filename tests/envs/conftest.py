"""Slow environment tests (a fresh virtualenv per test): only with ``make test-envs``.

They are not collected by a plain ``pytest tests`` (so ``make test`` stays fast) unless
``BOOK_TEST_ENVS=1`` is set, which ``make test-envs`` does.
"""

from __future__ import annotations

import os

import pytest

ENABLED = os.environ.get("BOOK_TEST_ENVS", "").strip().lower() in ("1", "true", "yes")
collect_ignore_glob = [] if ENABLED else ["test_*.py"]


def pytest_configure(config):
    config.addinivalue_line("markers", "envs: slow test that builds a fresh environment "
                                       "(make test-envs)")
