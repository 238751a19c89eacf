"""The order router's domain: plain data in, decisions out. No I/O lives here."""
