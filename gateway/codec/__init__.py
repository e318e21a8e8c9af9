"""GSM 03.38 / UCS-2 codec: counting, segmentation, UDH, septet packing."""

from gateway.codec.segment import Segment

__all__ = ["Segment"]
