"""The server's log handler writes to the standard error of the moment."""

import io
import logging

import pytest

from flrepo.middleware.observe import configure_logging


def test_logs_go_to_the_stderr_of_the_moment(monkeypatch: pytest.MonkeyPatch):
    configure_logging("text")
    closed = io.StringIO()
    monkeypatch.setattr("sys.stderr", closed)
    closed.close()  # as a test runner does with the output it captured
    now = io.StringIO()
    monkeypatch.setattr("sys.stderr", now)
    logging.getLogger("flrepo.test").warning("to the stderr of now")
    assert "WARNING flrepo.test to the stderr of now" in now.getvalue()
