"""Request parsing and response shaping shared by the REST routes, in FastAPI's error format."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from bson import ObjectId
from flrepo.documents.errors import AlreadyExists, InvalidInput, NotFound, RepositoryError, TooLarge
from flrepo.documents.files import FileStore
from flrepo.graph.resolvers.access import Forbidden, Unauthenticated
from flrepo.graph.validation import check_name
from flrepo.transfer import jsonbody
from flrepo.transfer.downloads import file_response
from flrepo.transfer.multipart import MultipartError, MultipartReader, StreamedUpload
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

B = TypeVar("B", bound=BaseModel)
Handler = Callable[[Request], Awaitable[Response]]

STATUS = {
    NotFound: 404,
    AlreadyExists: 400,
    TooLarge: 413,
    InvalidInput: 422,
    Unauthenticated: 401,
    Forbidden: 403,
}
BEARER = {"WWW-Authenticate": "Bearer"}  # with every 401, as FastAPI's HTTPBearer sends it


class RequestInvalid(Exception):
    """A request FastAPI would have refused with 422 and a list of errors."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("invalid request")
        self.errors = errors


@dataclass(frozen=True)
class Param:
    """A query parameter, for the OpenAPI document."""

    name: str
    schema: dict[str, Any]
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Endpoint:
    """One route of the original API: how it is served and how it is documented."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    status: int = 200
    body: type[BaseModel] | None = None
    upload: bool = False
    query: tuple[Param, ...] = ()
    response: dict[str, Any] | None = None  # schema of a JSON answer
    raw: bool = False  # answers a file's bytes
    errors: tuple[int, ...] = ()
    slash: bool = False  # also served with a trailing slash, as old clients send it

    def routes(self) -> list[Route]:
        endpoint = _guarded(self.handler)
        paths = [self.path, self.path + "/"] if self.slash else [self.path]
        return [Route(path, endpoint, methods=[self.method]) for path in paths]


def detail(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


async def http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's answer to a request no route takes (404, 405): `{"detail": "Not Found"}`."""
    assert isinstance(exc, HTTPException)
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


def _guarded(handler: Handler) -> Handler:
    """Domain errors and invalid input become 4xx answers in FastAPI's shape."""

    async def endpoint(request: Request) -> Response:
        if b"%2f" in request.scope.get("raw_path", b"").lower():
            # The server decodes the path before routing, so a name holding an encoded '/'
            # would be split into other parameters (DELETE /model/a%2F1 deleting model a
            # version 1). No name may hold a '/': no route takes such a path.
            return detail(404, "Not Found")
        try:
            return await handler(request)
        except RequestInvalid as exc:
            return JSONResponse({"detail": exc.errors}, status_code=422)
        except InvalidInput as exc:  # FastAPI's 422 is always a list of errors
            error = {"type": "value_error", "loc": _location(request, exc), "msg": str(exc)}
            return JSONResponse({"detail": [error]}, status_code=422)
        except Unauthenticated as exc:
            return JSONResponse({"detail": str(exc)}, status_code=401, headers=BEARER)
        except RepositoryError as exc:
            return detail(STATUS.get(type(exc), 422), str(exc))
        except ClientDisconnect:
            return Response(status_code=400)

    return endpoint


def _location(request: Request, exc: InvalidInput) -> list[str]:
    """Where the invalid value was: the refused path or query parameter, else the body."""
    if isinstance(exc, MultipartError):
        return ["body", "file"]
    for where, params in (("path", request.path_params), ("query", request.query_params)):
        for name, value in params.items():
            try:
                check_name(value, name)
            except InvalidInput:
                return [where, name]
    return ["body"]


async def json_body(request: Request, model: type[B]) -> B:
    """The request's JSON body, validated by `model`."""
    raw = await request.body()
    try:
        data = jsonbody.loads(raw)
    except jsonbody.JSONBodyError as exc:
        raise RequestInvalid(
            [{"type": "json_invalid", "loc": ["body", 0], "msg": f"JSON decode error: {exc}"}]
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestInvalid(
            [
                {"type": e["type"], "loc": ["body", *e["loc"]], "msg": e["msg"]}
                for e in exc.errors(include_url=False)
            ]
        ) from None


def query_param(request: Request, name: str) -> str:
    """A required query parameter."""
    value = request.query_params.get(name)
    if value is None:
        raise RequestInvalid([{"type": "missing", "loc": ["query", name], "msg": "Field required"}])
    return value


def files_of(request: Request) -> FileStore:
    return request.app.state.files


async def upload(request: Request) -> StreamedUpload:
    """The multipart form field `file`, positioned at its bytes but not yet read."""
    declared = request.headers.get("content-length", "")
    try:
        reader = MultipartReader(
            request.stream(),
            request.headers.get("content-type", ""),
            int(declared) if declared.isdigit() else None,
        )
        source = StreamedUpload(reader, "file", sole=True)
        await source.open()
    except MultipartError as exc:
        raise RequestInvalid([{"type": "value_error", "loc": ["body"], "msg": str(exc)}]) from None
    except InvalidInput:
        raise RequestInvalid(
            [{"type": "missing", "loc": ["body", "file"], "msg": "Field required"}]
        ) from None
    return source


async def raw_file(request: Request, file_id: str | None, missing: str) -> Response:
    """The file's bytes as `application/octet-stream`, or 404 with `missing` as the detail."""
    files = files_of(request)
    record = await files.get(file_id)
    if record is None:
        return detail(404, missing)
    return file_response(files, record, "application/octet-stream")


def plain(value: Any) -> Any:
    """A stored value as FastAPI's encoder renders it (ObjectId as hex, datetimes ISO)."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat()
    return value


def document(doc: BaseModel, exclude: set[str] | None = None) -> dict[str, Any]:
    """A Beanie document as the original stored it: original field names, no `_id`."""
    return doc.model_dump(mode="json", by_alias=True, exclude={"id", *(exclude or set())})


def listing(docs: list[Any], exclude: set[str] | None = None) -> JSONResponse:
    return JSONResponse([document(doc, exclude) for doc in docs])


def created() -> Response:
    return Response(content="null", status_code=201, media_type="application/json")


def no_content() -> Response:
    return Response(status_code=204)
