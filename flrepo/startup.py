"""The mistakes that stop `flrepo` from starting, each one line with its own exit code.

The codes follow sysexits.h where one fits; README.md lists them.
"""

import errno
import socket


class StartupError(RuntimeError):
    """`flrepo` cannot start; the message says why and what to do, in one line."""

    exit_code = 1


class SettingError(StartupError):
    """A flag or environment variable has an invalid value."""

    exit_code = 78  # EX_CONFIG


class DataDirError(StartupError):
    """The embedded database's folder cannot be created, written or locked."""

    exit_code = 73  # EX_CANTCREAT


class PortInUse(StartupError):
    """Something else already listens on the configured address and port."""

    exit_code = 75  # EX_TEMPFAIL: free the port, or pick another, and try again


class DataConflict(StartupError):
    """Existing data prevents what the server needs (for example its unique indexes)."""

    exit_code = 65  # EX_DATAERR


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to `host:port`, made before anything else starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as uvicorn chooses
    try:
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise SettingError(
            f"cannot listen on {host}: {exc.strerror}; set --host or FLREPO_HOST"
        ) from None
    _, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"{host}:{port} is already in use; stop the program listening there, "
                "or choose another port with --port or FLREPO_PORT"
            ) from None
        raise SettingError(
            f"cannot listen on {host}:{port}: {exc.strerror}; "
            "check --host / FLREPO_HOST and --port / FLREPO_PORT"
        ) from None
    return sock
