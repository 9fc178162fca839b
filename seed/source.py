"""Open whatever a seed path names: an archive file (plain or gzip) or a dump directory."""

from pathlib import Path

from flrepo.seed.archive import open_archive
from flrepo.seed.directory import DirectoryReader
from flrepo.seed.errors import CorruptDumpError, SeedError
from flrepo.seed.events import DumpSource


def open_dump(path: Path) -> DumpSource:
    """The dump at `path`, its prelude already read; damaged input raises a CorruptDumpError."""
    if not path.exists():
        raise SeedError(f"{path} does not exist")
    try:
        if path.is_dir():
            return DirectoryReader(path)
        return open_archive(path)
    except CorruptDumpError as exc:
        raise CorruptDumpError(f"{path}: {exc}") from None
    except OSError as exc:
        raise SeedError(f"cannot read {path}: {exc.strerror or exc}") from None
