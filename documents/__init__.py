"""Beanie documents in the original data layout, and the GridFS file store."""
