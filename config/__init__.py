"""Configuration every package may import: the settings, read from ``ROUTER_*`` variables."""
from config.settings import Settings, from_env, get_settings, reload, use

__all__ = ["Settings", "from_env", "get_settings", "reload", "use"]
