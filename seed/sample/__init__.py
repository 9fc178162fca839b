"""A small sample archive in the repository's exact data layout, built without a database."""
