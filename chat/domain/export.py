"""Export file formats (pure): JSON Lines, CSV for Excel, and the manifest.

- ``messages.jsonl``: one JSON object per message (:func:`chat.domain.records.record_json`)
  with all its revisions; UTF-8 without BOM, LF line ends; times in UTC.
- ``messages.csv``: one row per revision (a purged message: one row, action ``purged``);
  UTF-8 *with* BOM so Excel reads Japanese correctly, CRLF line ends and RFC 4180 quoting
  (Python's ``excel`` dialect); times twice, Japan time (``+09:00``, what people read)
  and UTC (``Z``, what the audit log uses). Cells that a spreadsheet would run as a
  formula are neutralised (:func:`safe_cell`), so the CSV is for reading, and the JSON
  Lines file holds the exact text.
- ``manifest.json``: the export's filters, counts, and each file's rows, bytes and
  SHA-256, plus the audit chain head when the export finished.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from chat.domain.dates import JST
from chat.domain.records import MessageRecord, record_json

MANIFEST_FORMAT = "tsunagu-export/1"
JSONL_FILE = "messages.jsonl"
CSV_FILE = "messages.csv"
MANIFEST_FILE = "manifest.json"
FORMAT_FILES = {"jsonl": JSONL_FILE, "csv": CSV_FILE}
DEFAULT_FORMATS = ("jsonl", "csv")
UTF8_BOM = b"\xef\xbb\xbf"

CSV_HEADER = (
    "message_id", "channel_id", "channel_name", "channel_kind", "seq",
    "sender_staff_number", "sender_name", "state", "revision", "action",
    "at_jst", "at_utc", "actor_staff_number", "body",
)

# OWASP "CSV Injection": a cell starting with one of these may run as a formula. The
# full-width forms are included because Japanese input methods produce them and some
# spreadsheet apps normalise them (defence in depth; prefixing costs nothing).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


def parse_formats(value: object) -> tuple[str, ...]:
    """``"jsonl,csv"`` or ``["jsonl", "csv"]`` (None: both) → the formats, in file order.
    Raises ValueError for an unknown or empty choice."""
    if value is None or value == "":
        return DEFAULT_FORMATS
    if isinstance(value, str):
        items = [v.strip().lower() for v in value.split(",") if v.strip()]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = [v.strip().lower() for v in value]
    else:
        raise ValueError("formats must be a list such as [\"jsonl\", \"csv\"]")
    unknown = [v for v in items if v not in FORMAT_FILES]
    if unknown or not items:
        raise ValueError(f"formats must be among: {', '.join(FORMAT_FILES)}")
    return tuple(f for f in DEFAULT_FORMATS if f in items)


def safe_cell(value: str) -> str:
    """A cell no spreadsheet runs as a formula: one starting with ``= + - @``, tab, CR
    or LF (or their full-width forms) gets a leading apostrophe, OWASP's advice. The
    CSV writer quotes the cell when it holds a separator, quote or line break, so a
    separator inside the text cannot start a new cell."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def jst(moment: datetime | None) -> str:
    return moment.astimezone(JST).isoformat() if moment else ""


def utc(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z") if moment else ""


def jsonl_line(record: MessageRecord) -> str:
    return json.dumps(record_json(record), ensure_ascii=False, separators=(",", ":")) + "\n"


def csv_rows(record: MessageRecord) -> list[tuple[str, ...]]:
    """The CSV rows of one message (one per revision), cells already made safe."""
    sender = record.sender
    common = (str(record.id), str(record.channel_id), record.channel_name,
              record.channel_kind, str(record.seq),
              sender.staff_number if sender else "", sender.name if sender else "",
              record.state)
    if not record.revisions:
        # Purged by retention: the message existed; its text is gone.
        raw = [(*common, "", "purged", jst(record.purged_at), utc(record.purged_at), "", "")]
    else:
        raw = [(*common, str(r.revision), r.action, jst(r.at), utc(r.at),
                r.actor.staff_number if r.actor else "", r.body)
               for r in record.revisions]
    return [tuple(safe_cell(cell) for cell in row) for row in raw]


def csv_text(rows: Iterable[Sequence[str]]) -> str:
    """RFC 4180 text (CRLF, minimal quoting, inner quotes doubled) of ``rows``; encode it
    as UTF-8 after a BOM (:data:`UTF8_BOM`) written once at the start of the file."""
    buffer = io.StringIO()
    csv.writer(buffer, dialect="excel").writerows(rows)
    return buffer.getvalue()


@dataclass(frozen=True)
class FileSummary:
    """One written file: ``rows`` are JSON lines or CSV data rows (the header excluded)."""

    name: str
    rows: int
    bytes: int
    sha256: str


def build_manifest(*, export_id: int, created_at: datetime, finished_at: datetime,
                   requested_by: str, requested_by_user_id: int | None,
                   filters: dict[str, Any], files: Sequence[FileSummary], messages: int,
                   revisions: int, purged: int, up_to_message_id: int,
                   audit_head: tuple[int, str] | None) -> dict[str, Any]:
    """The manifest. Every revision in the export was written with its audit entry, at
    or before ``audit_head``; ``sha256sum`` over each file must give its ``sha256``."""
    return {
        "format": MANIFEST_FORMAT,
        "export_id": export_id,
        "created_at": utc(created_at),
        "finished_at": utc(finished_at),
        "requested_by": {"user_id": requested_by_user_id, "label": requested_by},
        "filters": filters,
        "up_to_message_id": up_to_message_id,
        "counts": {"messages": messages, "revisions": revisions, "purged": purged},
        "files": [{"name": f.name, "rows": f.rows, "bytes": f.bytes, "sha256": f.sha256}
                  for f in files],
        "audit_head": ({"seq": audit_head[0], "hash": audit_head[1]}
                       if audit_head else None),
        "notes": {
            "jsonl": "one message per line with all its revisions; UTF-8; times in UTC",
            "csv": "one row per revision; UTF-8 with BOM; CRLF; at_jst is Japan time "
                   "(+09:00), at_utc is UTC; a cell starting with = + - @ tab CR LF is "
                   "prefixed with an apostrophe; exact text is in the JSON Lines file",
        },
    }


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
