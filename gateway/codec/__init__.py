"""GSM 03.38 / UCS-2 codec: counting, segmentation, UDH, septet packing.

Public API (README, Codec): :func:`analyze`, :func:`encode`,
:func:`decode_payload`, :func:`pack_septets`, :func:`unpack_septets`,
:func:`udh_build`, :func:`parse_udh`, :func:`dcs_for`, :func:`parse_dcs`, and for
segments an ESME cut itself :func:`raw_segment`, :func:`check_raw`, :func:`raw_analysis`.
``encode`` and ``analyze`` run in the compiled core (gateway/codec/_native.c)
when it is built, else in the pure-Python reference; :data:`IMPLEMENTATION`
says which.
"""

from gateway.codec.alphabet import LANGUAGES
from gateway.codec.analysis import Analysis
from gateway.codec.dcs import Dcs, dcs_for, parse_dcs
from gateway.codec.decoder import decode_payload
from gateway.codec.native import IMPLEMENTATION, analyze, encode
from gateway.codec.plan import CONCAT_MODES, MAX_SEGMENTS
from gateway.codec.raw import check_raw, raw_analysis, raw_segment
from gateway.codec.segment import Segment
from gateway.codec.septets import pack_septets, unpack_septets
from gateway.codec.udh import Concat, InformationElement, Udh, parse_udh, udh_build

__all__ = [
    "CONCAT_MODES",
    "IMPLEMENTATION",
    "LANGUAGES",
    "MAX_SEGMENTS",
    "Analysis",
    "Concat",
    "Dcs",
    "InformationElement",
    "Segment",
    "Udh",
    "analyze",
    "check_raw",
    "dcs_for",
    "decode_payload",
    "encode",
    "pack_septets",
    "parse_dcs",
    "parse_udh",
    "raw_analysis",
    "raw_segment",
    "udh_build",
    "unpack_septets",
]
