"""The credit journal as an accountant reads it: each entry with the message it is
for (destination, segments), and the one CSV writer (``GET /v1/journal`` as
text/csv, ``smsgw credit history --csv``).

CSV: RFC 4180 (CRLF line ends, fields quoted when they hold a comma, a quote
or a line break, quotes doubled), one header row, dates ISO 8601 UTC, signed
amounts (+ credits the account, - debits it). ``reference`` is a top-up's
order reference, else the entry's note (an adjustment's reason).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.model.isotime import iso
from gateway.model.records import LedgerEntry

__all__ = ["JOURNAL_CSV_HEADER", "JournalRow", "journal_csv"]

JOURNAL_CSV_HEADER = (
    "date",
    "kind",
    "amount",
    "balance_after",
    "reference",
    "message",
    "destination",
    "segments",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalRow:
    entry: LedgerEntry
    destination: str | None  # of the message a debit or refund is for
    segments: int | None

    @property
    def reference(self) -> str | None:
        return self.entry.reference or self.entry.note


def journal_csv(rows: Iterable[JournalRow]) -> str:
    """The rows as CSV, in the order given, with the header row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(JOURNAL_CSV_HEADER)
    for row in rows:
        e = row.entry
        writer.writerow(
            (
                iso(e.at),
                e.kind.value,
                e.amount,
                e.balance_after,
                row.reference or "",
                e.message_id or "",
                row.destination or "",
                "" if row.segments is None else row.segments,
            )
        )
    return out.getvalue()
