"""Numbers in headers and parameters, read with a bound on their digits.

`int()` of a string over 4,300 digits raises (Python's conversion limit) and a long one costs
time, so every number a client sends is read here: ASCII digits only, at most MAX_DIGITS.
"""

MAX_DIGITS = 19  # up to 9,999,999,999,999,999,999: more than any length or offset here


def count(text: str | None) -> int | None:
    """`text` as a non-negative integer (spaces around allowed), or None if it is not one or
    has more than MAX_DIGITS digits."""
    if text is None:
        return None
    text = text.strip()
    if not 0 < len(text) <= MAX_DIGITS or not (text.isascii() and text.isdigit()):
        return None
    return int(text)
