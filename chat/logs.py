"""Log output: uvicorn's text (the default) or, with ``CHAT_LOG_FORMAT=json``, one JSON
object a line for a log collector (docs/monitoring.md#logs).

Each line holds ``time`` (RFC 3339, UTC, ``Z``), ``level``, ``logger``, ``message`` and,
when there is one, ``exception`` (the formatted traceback); uvicorn's access lines add
``client``, ``method``, ``path`` and ``status``. The formatter is written here rather
than taken from ``python-json-logger``: it is the fifteen lines below on the standard
library's ``json``, while the package would be one more dependency to vet and pin for
them, and its defaults (local times, every ``extra`` attribute copied verbatim) are
not what we want.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

from chat.domain.dates import wire_time


class JsonLines(logging.Formatter):
    """A record as one line of JSON (never a newline inside: tracebacks are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": wire_time(datetime.fromtimestamp(record.created, UTC)),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # uvicorn.access: (client_addr, method, full_path, http_version, status_code)
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) \
                and len(record.args) == 5:
            client, method, path, _version, status = record.args
            entry.update(client=client, method=method, path=path, status=status)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def json_log_config(level: str = "INFO") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` (and uvicorn ``log_config``): every logger, ours
    and uvicorn's, writes JSON lines to stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonLines}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                                "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            # Through the root's handler, not handlers of their own (uvicorn's default).
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": level, "propagate": True},
        },
    }


def uvicorn_log_options(log_format: str) -> dict[str, Any]:
    """``uvicorn.run`` keywords for ``log_format``: uvicorn's own config for text."""
    return {"log_config": json_log_config()} if log_format == "json" else {}


def configure_logging(log_format: str) -> None:
    """For the CLI's other commands: JSON lines when asked; Python's default otherwise."""
    if log_format == "json":
        logging.config.dictConfig(json_log_config())
