"""Pure values shared by every layer: names, ARNs, status machines. No I/O here."""
