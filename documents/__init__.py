"""MongoDB documents (mongoengine) and their indexes: the only package that knows MongoDB."""
