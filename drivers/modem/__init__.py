"""Serial GSM modem link driver and modem simulator."""
