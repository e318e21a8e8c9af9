"""The compiled codec core (gateway/codec/_native.c), configured from the
tables of :mod:`gateway.codec.alphabet`, or the pure-Python reference.

:data:`encode` and :data:`analyze` are the compiled functions when the
extension is built (``pip install .`` builds it where a C compiler and the
Python headers are found) and ``SMSGW_PURE_PYTHON=1`` is not set; otherwise
the reference functions of :mod:`gateway.codec.general` and
:mod:`gateway.codec.analysis`. :data:`IMPLEMENTATION` says which
("native" or "python"). The C code holds no alphabet of its own: it gets a
map per table from here, built from the same tables the reference uses.
"""

from __future__ import annotations

import array
import itertools
import os
from types import ModuleType

from gateway.codec.alphabet import (
    ESCAPE,
    LANGUAGES,
    TABLES,
    Tables,
)
from gateway.codec.analysis import Analysis, analyze_python
from gateway.codec.dcs import dcs_for
from gateway.codec.general import encode_python, national_elements
from gateway.codec.plan import candidates
from gateway.codec.segment import Segment
from gateway.model.message import MessageClass

PURE_PYTHON_VARIABLE = "SMSGW_PURE_PYTHON"
_NO_SEPTET = 0xFFFF
_EXTENDED = 0x100


def _map(tables: Tables) -> bytes:
    """Code point -> septet (0x100 | code for an escape pair, 0xFFFF for
    none) as native uint16s, up to the highest code point the tables hold.
    A base-table character wins over the same one in the extension table
    (one septet beats an escape pair), as in the reference's encoding map."""
    size = max(map(ord, tables.chars)) + 1
    entries = array.array("H", [_NO_SEPTET]) * size
    for code, char in tables.extension.items():
        entries[ord(char)] = _EXTENDED | code
    for septet, char in enumerate(tables.decoding):
        if septet != ESCAPE:
            entries[ord(char)] = septet
    entries[0] = _NO_SEPTET  # NUL is refused, whatever the table says (plan.check_text)
    return entries.tobytes()


def _configure(native: ModuleType) -> None:
    order = list(TABLES.values())  # the default tables first
    order.remove(TABLES[None, None])
    order.insert(0, TABLES[None, None])
    index = {id(t): i for i, t in enumerate(order)}
    national: dict[tuple[str, ...], tuple[int, ...]] = {}
    for size in range(1, len(LANGUAGES) + 1):
        for codes in itertools.permutations(LANGUAGES, size):
            national[codes] = tuple(index[id(t)] for t in candidates(codes))
    classes: dict[object, tuple[int, int]] = {None: (0x00, 0x08)}
    for cls in (*MessageClass, 0, 1, 2, 3):
        classes[cls] = (dcs_for("gsm7", cls), dcs_for("ucs2", cls))
    native.configure(
        segment=Segment,
        analysis=Analysis,
        message_class=MessageClass,
        encode_reference=encode_python,
        analyze_reference=analyze_python,
        tables=tuple((_map(t), national_elements(t), t.locking, t.single) for t in order),
        national=national,
        classes=classes,
    )


def load_compiled() -> ModuleType | None:
    """The compiled core, configured; None when it is not built."""
    try:
        from gateway.codec import _native  # noqa: PLC0415 - optional compiled module
    except ImportError:
        return None
    _configure(_native)
    return _native


def _load() -> ModuleType | None:
    if os.environ.get(PURE_PYTHON_VARIABLE, "") not in {"", "0"}:
        return None
    return load_compiled()


_module = _load()
IMPLEMENTATION = "native" if _module is not None else "python"
encode = encode_python
analyze = analyze_python
if _module is not None:  # same signatures, same results (tests/gateway/codec/test_native.py)
    encode = _module.encode
    analyze = _module.analyze
