"""What the web logs: an ordinary 403 is one line, a server error keeps its traceback."""

from __future__ import annotations

import logging
import sys

import pytest
from django.test import Client

from blueprints.services import blueprint_create
from genpack_site.log_filters import ClientErrorsWithoutTraceback


def _forbidden_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("Forbidden (Permission denied)")]


@pytest.mark.django_db
def test_a_technician_opening_the_editor_logs_one_line_without_traceback(
    technician: Client, caplog: pytest.LogCaptureFixture
) -> None:
    blueprint_create(name="kiosk", author=None, description="", targets=[])
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = technician.get("/blueprints/kiosk/edit/")
    assert response.status_code == 403
    [record] = _forbidden_records(caplog)
    assert record.exc_info is None
    assert "Traceback" not in caplog.text


def test_a_server_error_keeps_its_traceback() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.LogRecord(
            "django.request", logging.ERROR, __file__, 1, "Internal Server Error", (), None
        )
        record.exc_info = sys.exc_info()
    record.status_code = 500
    assert ClientErrorsWithoutTraceback().filter(record)
    assert record.exc_info is not None
