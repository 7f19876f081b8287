"""Logging filters the settings' LOGGING uses."""

from __future__ import annotations

import logging


class ClientErrorsWithoutTraceback(logging.Filter):
    """Keep the one line Django logs for a 4xx (``Forbidden (Permission denied): /path``)
    and drop the traceback it attaches: a 403 for a technician opening the editor is the
    permission check working, not a fault to debug. 5xx keep theirs."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
