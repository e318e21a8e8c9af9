"""The counter a sender sees while typing: :func:`analyze`."""

from __future__ import annotations

from typing import NamedTuple

from gateway.codec.plan import check_count, plan


class Analysis(NamedTuple):
    """What a sender sees while typing (a NamedTuple: the compiled core
    builds it directly)."""

    encoding: str  # "gsm7" | "ucs2"
    characters: int  # code points
    units: int  # septets (gsm7, escapes count 2) or UTF-16 code units (ucs2)
    segments: int
    remaining: int  # units still free in the last segment
    per_segment: int  # units one segment of this message holds
    locking_shift: str | None = None  # national language code, e.g. "tr"
    single_shift: str | None = None

    @property
    def national(self) -> tuple[str, ...]:
        """The national tables used (locking first), empty for none."""
        return tuple(x for x in (self.locking_shift, self.single_shift) if x is not None)


def analyze_python(
    text: str,
    *,
    national: tuple[str, ...] | list[str] = (),
    encoding: str | None = None,
    concat: str = "udh8",
) -> Analysis:
    """Encoding, characters, units, segments and units left in the last segment.

    ``concat`` changes the sizes only for "udh16" (152/66 per segment);
    "payload" counts the segments the SMSC will make (sized as "udh8").
    Raises TextTooLong beyond 255 segments. The reference the compiled core
    (gateway/codec/_native.c) equals, and the fallback when it is not built.
    """
    planned = plan(text, encoding, national, concat)
    total = check_count(planned)
    ucs2 = planned.encoding == "ucs2"
    last = planned.ends[-1] - (planned.ends[-2] if total > 1 else 0)
    tables = planned.tables
    return Analysis(
        planned.encoding,
        len(text),
        len(planned.data) >> 1 if ucs2 else len(planned.data),
        total,
        (planned.capacity - last) >> 1 if ucs2 else planned.capacity - last,
        planned.capacity >> 1 if ucs2 else planned.capacity,
        tables.locking if tables is not None else None,
        tables.single if tables is not None else None,
    )
