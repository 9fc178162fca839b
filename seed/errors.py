"""The errors a seed command reports as one line instead of a traceback."""


class SeedError(Exception):
    """A seed or dump failed; the message says why, in one line."""


class CorruptDumpError(SeedError):
    """The archive or dump directory is not what mongodump writes (or was damaged)."""


class UniqueIndexError(SeedError):
    """Data violates a unique index; the message names the index and the duplicate keys."""
