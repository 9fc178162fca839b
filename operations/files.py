"""Operations on stored files themselves (listing, lookup by name)."""

from datetime import datetime
from typing import Any

from flrepo.documents.errors import InvalidInput
from flrepo.documents.files import FileStore, StoredFile
from flrepo.operations.access import requires
from flrepo.operations.cursors import FORGED, Page, check_first, decode, encode
from flrepo.operations.cursors import after as keyset_after
from flrepo.operations.validation import check_page, check_storable
from flrepo.operations.window_ends import WindowEnds, read_in_time_order
from flrepo.scanner.verdicts import Verdict

MAX_PREFIX_LENGTH = 1024  # longer than any stored name: model/<256>/<256>


def _check_prefix(filename_prefix: str | None) -> None:
    if filename_prefix is not None:
        if len(filename_prefix) > MAX_PREFIX_LENGTH:
            raise InvalidInput(f"filename prefix must be at most {MAX_PREFIX_LENGTH} characters")
        check_storable(filename_prefix, "filename prefix")


@requires("read")
async def list_files(
    files: FileStore,
    filename_prefix: str | None = None,
    limit: int | None = 100,
    offset: int = 0,
    safety: Verdict | None = None,
) -> list[StoredFile]:
    check_page(limit, offset)
    _check_prefix(filename_prefix)
    if limit == 0:
        return []
    if limit is None:
        return await files.find(filename_prefix, 0, offset, safety)
    return await _in_upload_order(files, filename_prefix, safety, [{}], offset, limit)


FILES = "files"  # cursor kind: (upload date, id)
UPLOAD_ORDER = ["uploadDate", "_id"]


@requires("read")
async def files_connection(
    files: FileStore,
    filename_prefix: str | None = None,
    safety: Verdict | None = None,
    first: int = 100,
    after: str | None = None,
) -> Page[StoredFile]:
    """A page of files after the cursor `after`, oldest upload first.

    Each part of the page is one `FileStore.find` from a keyset start (see cursors.after).
    """
    check_first(first)
    _check_prefix(filename_prefix)
    starts: list[dict[str, Any]] = [{}]
    if after is not None:
        upload_date, file_id = decode(after, FILES, 2)
        if not isinstance(upload_date, datetime | None):
            raise InvalidInput(FORGED)
        starts = keyset_after(UPLOAD_ORDER, [upload_date, file_id])
    found = await _in_upload_order(files, filename_prefix, safety, starts, 0, first + 1)
    edges = [(_cursor(f), f) for f in found[:first]]
    return Page(edges, len(found) > first)


ENDS = WindowEnds()  # of each list of files (its database, prefix and verdict)


async def _in_upload_order(
    files: FileStore,
    filename_prefix: str | None,
    safety: Verdict | None,
    parts: list[dict[str, Any]],
    skip: int,
    count: int,
) -> list[StoredFile]:
    """Files `skip` to `skip + count` from where `parts` (cursors.after) start, each part one
    `FileStore.find`. Bounded by the end of a window read before (window_ends), but for a
    name prefix: its scan is of the range of names, which a bound on the time would not
    shorten."""

    async def find(part: dict[str, Any], skip: int, limit: int) -> list[StoredFile]:
        return await files.find(filename_prefix, limit, skip, safety, where=part)

    walk = None if filename_prefix else (files.db.name, safety)
    when = lambda record: record.document.get("uploadDate")  # noqa: E731
    return await read_in_time_order(ENDS, walk, find, when, "uploadDate", parts, skip, count)


def _cursor(record: StoredFile) -> str:
    """The file's place in upload order, as the database sorts it (a file another tool
    stored may lack its date)."""
    return encode(FILES, [record.document.get("uploadDate"), record.document["_id"]])


@requires("read")
async def get_file(files: FileStore, file_id: str) -> StoredFile | None:
    return await files.get(file_id)


@requires("read")
async def newest_file(files: FileStore, filename: str) -> StoredFile | None:
    return await files.newest(filename)
