"""Exports: a session's story from the store, rendered as a static gallery (and, later, blog posts)."""
