"""smsgw: an SMS gateway daemon."""

__version__ = "0.1.0"
