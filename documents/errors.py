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
