"""Domain errors; each carries the code the APIs report it with."""


class RepositoryError(Exception):
    """Base of every error a client caused and may be told about."""

    code = "BAD_USER_INPUT"


class NotFound(RepositoryError):
    code = "NOT_FOUND"


class AlreadyExists(RepositoryError):
    code = "ALREADY_EXISTS"


class InvalidInput(RepositoryError):
    code = "BAD_USER_INPUT"


class TooLarge(RepositoryError):
    code = "PAYLOAD_TOO_LARGE"


class DigestMismatch(InvalidInput):
    """The bytes received do not have the digest the client said they would."""


class OffsetMismatch(RepositoryError):
    """A resumable upload was continued at another offset than the one stored."""

    code = "CONFLICT"


class UploadBusy(RepositoryError):
    """Another request is writing to the same resumable upload."""

    code = "LOCKED"
