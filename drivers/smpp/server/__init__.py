"""smsgw's SMPP server: upstream ESMEs bind to smsgw as to an SMSC (README, SMPP server)."""
