"""Every operation of the repository, once: plain arguments in, documents out.

The GraphQL fields and the REST routes are thin wrappers around these functions.
"""
