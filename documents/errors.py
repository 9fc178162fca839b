"""Domain errors; each carries the code GraphQL reports it with and the HTTP status of
REST and tus (each face maps them in one place: `graph.errors`, `rest_compat.api`, `tus.routes`)."""


class RepositoryError(Exception):
    """Base of every error a client caused and may be told about."""

    code = "BAD_USER_INPUT"
    status = 400


class NotFound(RepositoryError):
    code = "NOT_FOUND"
    status = 404


class AlreadyExists(RepositoryError):
    code = "ALREADY_EXISTS"
    status = 400  # as the original service answers


class InvalidInput(RepositoryError):
    """Input the operation refuses (REST answers it 422, in FastAPI's shape of error list)."""

    code = "BAD_USER_INPUT"


class DangerousPickle(InvalidInput):
    """Refused under the `refuse` pickle policy: the file imports names that run code."""

    status = 422

    def __init__(self, names: tuple[str, ...]) -> None:
        super().__init__(
            "the file is a pickle importing dangerous names: "
            + ", ".join(names)
            + "; this repository refuses such files"
        )
        self.names = names


class TooLarge(RepositoryError):
    code = "PAYLOAD_TOO_LARGE"
    status = 413


class DigestMismatch(InvalidInput):
    """The bytes received do not have the digest the client said they would."""


class OffsetMismatch(RepositoryError):
    """A resumable upload was continued at another offset than the one stored."""

    code = "CONFLICT"
    status = 409


class UploadBusy(RepositoryError):
    """Another request is writing to the same resumable upload."""

    code = "LOCKED"
    status = 423


class Unauthenticated(RepositoryError):
    """No token, or a bad one, where the operation needs one."""

    code = "UNAUTHENTICATED"
    status = 401


class Forbidden(RepositoryError):
    """The caller is known but may not do this."""

    code = "FORBIDDEN"
    status = 403


class TooManyRequests(RepositoryError):
    """The caller is past its share (uploads at once, unfinished uploads): it may try again
    after `retry_after` seconds, once some of its own have finished."""

    code = "TOO_MANY_REQUESTS"
    status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UploadIdle(RepositoryError):
    """An upload's bytes stopped arriving for longer than the server waits."""

    code = "REQUEST_TIMEOUT"
    status = 408


class SignatureRefused(RepositoryError):
    """Refused under the `require` signature policy: the upload is not signed by a trusted key."""

    code = "SIGNATURE_REFUSED"
    status = 422


class Conflict(RepositoryError):
    """The write contradicts what is stored under the same key (a round recorded again with
    other content)."""

    code = "CONFLICT"
    status = 409


class NotReady(RepositoryError):
    """What the answer reads is still being brought up to date after a start (the rankings
    and the `trained` flags of documents written behind the server's back); retry soon."""

    code = "NOT_READY"
    status = 503
