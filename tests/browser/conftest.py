"""Fixtures and hooks of the browser tests; the code is in site_browser.py."""

from site_browser import (base_url, browser, pytest_sessionstart,  # noqa: F401
                          pytest_terminal_summary, pytest_xdist_make_scheduler, report)
