"""The edges of the router: HTTP app, CLI, channel / WMS / carrier formats and clients."""
