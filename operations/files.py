"""Operations on stored files themselves (listing, lookup by name)."""

from flrepo.documents.errors import InvalidInput
from flrepo.documents.files import FileStore, StoredFile
from flrepo.operations.access import requires
from flrepo.operations.validation import check_page, check_storable
from flrepo.scanner.verdicts import Verdict

MAX_PREFIX_LENGTH = 1024  # longer than any stored name: model/<256>/<256>


@requires("read")
async def list_files(
    files: FileStore,
    filename_prefix: str | None = None,
    limit: int | None = 100,
    offset: int = 0,
    safety: Verdict | None = None,
) -> list[StoredFile]:
    check_page(limit, offset)
    if filename_prefix is not None:
        if len(filename_prefix) > MAX_PREFIX_LENGTH:
            raise InvalidInput(f"filename prefix must be at most {MAX_PREFIX_LENGTH} characters")
        check_storable(filename_prefix, "filename prefix")
    if limit == 0:
        return []
    return await files.find(filename_prefix, limit or 0, offset, safety)


@requires("read")
async def get_file(files: FileStore, file_id: str) -> StoredFile | None:
    return await files.get(file_id)


@requires("read")
async def newest_file(files: FileStore, filename: str) -> StoredFile | None:
    return await files.newest(filename)
