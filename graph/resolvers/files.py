"""Operations on stored files themselves (listing, lookup by name)."""

from flrepo.documents.files import FileStore, StoredFile
from flrepo.graph.validation import check_page


async def list_files(
    files: FileStore, filename_prefix: str | None = None, limit: int | None = 100, offset: int = 0
) -> list[StoredFile]:
    check_page(limit, offset)
    if limit == 0:
        return []
    return await files.find(filename_prefix, limit or 0, offset)


async def get_file(files: FileStore, file_id: str) -> StoredFile | None:
    return await files.get(file_id)


async def newest_file(files: FileStore, filename: str) -> StoredFile | None:
    return await files.newest(filename)
