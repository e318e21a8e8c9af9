"""Link drivers: SMPP and serial GSM modems, and their simulators."""
