"""FastAPI dependencies the REST routes share."""

from typing import Annotated

from fastapi import Depends, Request
from flrepo.documents.files import FileStore


def files_of(request: Request) -> FileStore:
    return request.app.state.files


Files = Annotated[FileStore, Depends(files_of)]  # the file store, from `app.state.files`
