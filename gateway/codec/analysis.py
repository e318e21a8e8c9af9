"""The counter a sender sees while typing: :func:`analyze`."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.codec.plan import check_count, plan


@dataclass(frozen=True, slots=True, kw_only=True)
class Analysis:
    """What a sender sees while typing."""

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


def analyze(
    text: str,
    *,
    national: tuple[str, ...] | list[str] = (),
    encoding: str | None = None,
    concat: str = "udh8",
) -> Analysis:
    """Encoding, characters, units, segments and units left in the last segment.

    ``concat`` changes the sizes only for "udh16" (152/66 per segment);
    "payload" counts the segments the SMSC will make (sized as "udh8").
    Raises TextTooLong beyond 255 segments.
    """
    planned = plan(text, encoding, national, concat)
    total = check_count(planned)
    ucs2 = planned.encoding == "ucs2"
    last = planned.ends[-1] - (planned.ends[-2] if total > 1 else 0)
    tables = planned.tables
    return Analysis(
        encoding=planned.encoding,
        characters=len(text),
        units=len(planned.data) >> 1 if ucs2 else len(planned.data),
        segments=total,
        remaining=(planned.capacity - last) >> 1 if ucs2 else planned.capacity - last,
        per_segment=planned.capacity >> 1 if ucs2 else planned.capacity,
        locking_shift=tables.locking if tables is not None else None,
        single_shift=tables.single if tables is not None else None,
    )
