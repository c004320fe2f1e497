"""Fixtures and the summary hook of the browser tests; the code is in site_browser.py."""

from site_browser import base_url, browser, pytest_terminal_summary  # noqa: F401
