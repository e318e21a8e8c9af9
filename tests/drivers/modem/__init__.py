"""Tests of the serial GSM modem driver and its simulator."""
