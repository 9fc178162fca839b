"""A small sample archive in the repository's exact data layout, built without a database."""

from flrepo.seed.sample.build import build_sample, sample_documents

__all__ = ["build_sample", "sample_documents"]
