"""Channels we fetch from rather than being pushed to."""
