"""The browser tests' fixtures (defined with the first browser test) for every module here."""

from test_viewer_browser import browser, live_server  # noqa: F401  (fixtures)
