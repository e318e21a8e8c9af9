# The compiled codec core (gateway/codec/_native.c); see gateway/codec/native.py.
from collections.abc import Callable
from typing import Any

from gateway.codec.analysis import Analysis
from gateway.codec.segment import Segment
from gateway.model.message import MessageClass

def encode(
    text: str,
    *,
    concat: str = "udh8",
    reference: int = 0,
    packed: bool = False,
    encoding: str | None = None,
    msg_class: MessageClass | int | None = None,
    national: tuple[str, ...] | list[str] = (),
) -> list[Segment]: ...
def analyze(
    text: str,
    *,
    national: tuple[str, ...] | list[str] = (),
    encoding: str | None = None,
    concat: str = "udh8",
) -> Analysis: ...
def pack(septets: bytes, fill_bits: int, /) -> bytes: ...
def configure(
    *,
    segment: type[Segment],
    analysis: type[Analysis],
    message_class: type[MessageClass],
    encode_reference: Callable[..., list[Segment]],
    analyze_reference: Callable[..., Analysis],
    tables: tuple[tuple[bytes, bytes, str | None, str | None], ...],
    national: dict[tuple[str, ...], tuple[int, ...]],
    classes: dict[Any, tuple[int, int]],
) -> None: ...
