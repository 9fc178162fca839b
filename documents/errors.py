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


class DangerousPickle(InvalidInput):
    """Refused under the `refuse` pickle policy: the file imports names that run code."""

    def __init__(self, names: tuple[str, ...]) -> None:
        super().__init__(
            "the file is a pickle importing dangerous names: "
            + ", ".join(names)
            + "; this repository refuses such files"
        )
        self.names = names


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
