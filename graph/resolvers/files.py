"""Operations on stored files themselves (listing, lookup by name)."""

from flrepo.documents.files import FileStore, StoredFile
from flrepo.documents.pickle_scan import Verdict
from flrepo.graph.validation import check_page


async def list_files(
    files: FileStore,
    filename_prefix: str | None = None,
    limit: int | None = 100,
    offset: int = 0,
    safety: Verdict | None = None,
) -> list[StoredFile]:
    check_page(limit, offset)
    if limit == 0:
        return []
    return await files.find(filename_prefix, limit or 0, offset, safety)


async def get_file(files: FileStore, file_id: str) -> StoredFile | None:
    return await files.get(file_id)


async def newest_file(files: FileStore, filename: str) -> StoredFile | None:
    return await files.newest(filename)
