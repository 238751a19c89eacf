"""Outbound HTTP clients for warehouses, carriers and channels, with one shared retry policy."""
