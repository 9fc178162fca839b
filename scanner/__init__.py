"""The pickle scanner: fed a file's bytes in order, it says what the pickles in them import.

It stands apart from storage and HTTP: it imports nothing of the rest of flrepo.
"""
