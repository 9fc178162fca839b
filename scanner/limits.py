"""The bounds that keep a scan's memory and work small, whatever the file holds."""

MAX_GLOBALS = 500  # distinct imports recorded per file
MAX_NOTES = 20  # notes kept per file
MAX_NAME = 256  # longer module or attribute names are cut
MAX_LINE = 64 * 1024  # text arguments (protocol 0) longer than this are skipped, not held
MAX_STACK = 100_000  # stack entries modelled; beyond that only GLOBAL/INST names are exact
MAX_MEMO = 100_000  # memoised strings remembered
MAX_DEPTH = 2  # archives inside archives looked into
INFLATE_OUT = 1024 * 1024  # bytes inflated at a time
MAX_EXPANSION = 100  # inflated bytes followed per compressed byte, beyond a first MiB
