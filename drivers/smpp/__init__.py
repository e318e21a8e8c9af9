"""SMPP 3.4 link driver and SMSC simulator."""
