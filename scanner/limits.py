"""The bounds that keep a scan's memory and work small, whatever the file holds."""

MAX_GLOBALS = 500  # distinct imports recorded per file
MAX_GLOBAL_BYTES = 32 * 1024  # characters of import names recorded per file
MAX_NOTES = 20  # notes kept per file
MAX_NAME = 256  # longer module or attribute names are cut
MAX_LINE = 16 * 1024  # text arguments (protocol 0) longer than this are skipped, not held
MAX_STACK_BYTES = 48 * 1024  # the stack model's size; past it the bottom half is forgotten
MAX_MEMO_BYTES = 64 * 1024  # strings the memo model keeps; past it the least recently used go
MAX_MEMO_SPARSE = 256  # memo keys written out of order that are followed
MAX_DEPTH = 2  # archives inside archives looked into
MAX_MEMBERS = 4096  # zip members whose headers are kept to check the central directory
MAX_HEADER = 64 * 1024  # a NumPy file's header
INFLATE_OUT = 256 * 1024  # bytes inflated at a time
MAX_EXPANSION = 100  # inflated bytes followed per compressed byte, beyond a first MiB
EXPANSION_FLOOR = 1 << 20

# Each scan's CPU time: a floor, and more for each MiB the file holds (settings override).
BUDGET_S = 2.0
BUDGET_S_PER_MIB = 1.0
