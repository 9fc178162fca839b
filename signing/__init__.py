"""Signature verification: an OpenSSF model-signing bundle, a file's sha256 and the trusted
keys give the file's signature state. Offline, with no storage or HTTP: it imports nothing
of the rest of flrepo.
"""
