"""The embedded development database: SecantusDB as a child process on a local folder."""

import asyncio
import contextlib
import ctypes
import fcntl
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

from pymongo.errors import ConfigurationError, PyMongoError
from pymongo.uri_parser import parse_uri

from flrepo.documents.database import connect
from flrepo.startup import DataDirError, SettingError, StartupError

log = logging.getLogger("flrepo")

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0
CONNECT_TIMEOUT_S = 15.0
PING_TIMEOUT_S = 0.5  # one try while waiting for a server to come up
MAX_RESTARTS = 5  # failed starts in a row before giving up
RESTART_BACKOFF_MAX_S = 10.0
WAKE_INTERVAL_S = 0.1  # while stopping: how often the server's accept loop is woken


class DatabaseError(StartupError):
    """The database could not be started or reached (the message says why, in one line)."""

    exit_code = 69  # EX_UNAVAILABLE


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def secantus_command() -> str:
    """Path of `secantusd-py`, preferring the one installed beside this Python."""
    beside = Path(sys.executable).parent / "secantusd-py"
    found = str(beside) if beside.exists() else shutil.which("secantusd-py")
    if not found:
        raise DatabaseError(
            "secantusd-py was not found; install the project with pip, or set FLREPO_MONGODB_URL"
        )
    return found


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: have the child get SIGTERM should this process die without stopping it."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def wait_for_ping(url: str, timeout_s: float, proc: subprocess.Popen | None = None) -> None:
    """Return once the server at `url` answers ping; raise if it dies or time runs out.

    Runs on a thread of its own, so that callers inside an event loop may use it too.
    """
    with ThreadPoolExecutor(1) as thread:
        thread.submit(asyncio.run, _wait_for_ping(url, timeout_s, proc)).result()


async def _port_open(host: str, port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return False
    writer.close()
    return True


async def _wait_for_ping(url: str, timeout_s: float, proc: subprocess.Popen | None) -> None:
    deadline = time.monotonic() + timeout_s
    if proc is not None:
        # A child we started: wait for its port first, for the driver retries a refused
        # server only every half second.
        host, port = parse_uri(url)["nodelist"][0]
        while not await _port_open(host, port) and time.monotonic() < deadline:
            if proc.poll() is not None:
                raise DatabaseError(f"the database exited with code {proc.returncode}")
            await asyncio.sleep(0.02)
    client = connect(url)
    try:
        while True:
            if proc is not None and proc.poll() is not None:
                raise DatabaseError(f"the database exited with code {proc.returncode}")
            try:
                await asyncio.wait_for(client.admin.command("ping"), PING_TIMEOUT_S)
                return
            except (PyMongoError, TimeoutError):
                if time.monotonic() > deadline:
                    raise DatabaseError(
                        f"the database did not answer within {timeout_s:.0f} s"
                    ) from None
                await asyncio.sleep(0.1)
    finally:
        await client.close()


def require_database(url: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Return once the MongoDB at `url` answers ping; else a DatabaseError naming its hosts."""
    try:
        hosts = ", ".join(f"{host}:{port}" for host, port in parse_uri(url)["nodelist"])
    except (ConfigurationError, ValueError) as exc:
        raise SettingError(f"the MongoDB URL is not valid: {exc}") from None
    try:
        wait_for_ping(url, timeout_s)
    except DatabaseError:
        raise DatabaseError(
            f"MongoDB at {hosts or url} did not answer within {timeout_s:.0f} s; "
            "check FLREPO_MONGODB_URL (or --mongodb-url)"
        ) from None


def _terminate(proc: subprocess.Popen) -> None:
    """SIGTERM to the child's main thread where the C library can aim it, else to the process.

    A signal sent to a whole process may be taken by whichever thread next changes its signal
    mask (SecantusDB's accept loop does so for each new connection); Python runs the handler
    only once its main thread wakes, which a server waiting for its stop event never does.
    """
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.tgkill(proc.pid, proc.pid, signal.SIGTERM) == 0:
            return
    proc.terminate()


def _wake(address: tuple[str, int]) -> None:
    """Connect once, so that a server blocked in accept() notices it is stopping."""
    with contextlib.suppress(OSError), socket.create_connection(address, WAKE_INTERVAL_S):
        pass


def stop_process(
    proc: subprocess.Popen,
    timeout_s: float = STOP_TIMEOUT_S,
    address: tuple[str, int] | None = None,
) -> None:
    """SIGTERM, wait, and SIGKILL only if it will not stop.

    With the server's `address`, its accept loop is woken while it stops: SecantusDB
    otherwise waits 2 s for that loop before closing its storage as usual.
    """
    if proc.poll() is not None:
        return
    _terminate(proc)
    deadline = time.monotonic() + timeout_s
    while True:
        if address is not None:
            _wake(address)
        try:
            proc.wait(WAKE_INTERVAL_S if address is not None else timeout_s)
            return
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                break
    proc.kill()
    proc.wait()


def _unusable(data_dir: Path, exc: OSError) -> DataDirError:
    return DataDirError(
        f"the data dir {data_dir} cannot be used: {exc.strerror or exc}; "
        "choose a writable folder with --data-dir or FLREPO_DATA_DIR"
    )


def _lock(data_dir: Path) -> IO[str]:
    """Hold an exclusive lock on the data dir for as long as the returned file stays open."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        lock_file = (data_dir / "flrepo.lock").open("a+")
    except OSError as exc:
        raise _unusable(data_dir, exc) from None
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock_file.seek(0)
        holder = lock_file.read().strip() or "another process"
        lock_file.close()
        raise DataDirError(
            f"the data dir {data_dir} is in use by {holder}; stop it first, "
            "or choose another folder with --data-dir"
        ) from None
    lock_file.seek(0)
    lock_file.truncate()
    lock_file.write(f"flrepo (pid {os.getpid()})\n")
    lock_file.flush()
    return lock_file


class Supervisor(threading.Thread):
    """Keeps the embedded database running: restarts it on the same port when it dies.

    Restarts back off (1 s, 2 s, 4 s, ... up to RESTART_BACKOFF_MAX_S); after
    MAX_RESTARTS failed starts in a row it gives up and has this process exit with SIGTERM,
    so that whatever supervises it starts it afresh, rather than answer with no database.
    A stopped (SIGSTOP) database is not dead: it is waited for.
    """

    def __init__(
        self, command: list[str], url: str, log_path: Path, address: tuple[str, int]
    ) -> None:
        super().__init__(name="embedded-database", daemon=True)
        self.command = command
        self.url = url
        self.address = address
        self.log_path = log_path
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.restarts = 0
        self.proc = self._spawn()

    def _spawn(self) -> subprocess.Popen:
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # Ctrl-C reaches us; we stop it in order
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )

    def run(self) -> None:
        failures = 0
        while True:
            code = self.proc.wait()
            if self._stopping.is_set():
                return
            failures += 1
            if failures > MAX_RESTARTS:
                log.error(
                    "the embedded database keeps exiting (code %s); giving up, see %s",
                    code,
                    self.log_path,
                )
                os.kill(os.getpid(), signal.SIGTERM)
                return
            delay = min(2.0 ** (failures - 1), RESTART_BACKOFF_MAX_S)
            log.warning(
                "the embedded database exited with code %s; restarting it in %.0f s", code, delay
            )
            if self._stopping.wait(delay):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self.proc = self._spawn()
            try:
                wait_for_ping(self.url, START_TIMEOUT_S, self.proc)
            except DatabaseError as exc:
                log.warning("the embedded database did not come back: %s", exc)
                stop_process(self.proc)
                continue
            self.restarts += 1
            failures = 0
            log.info("the embedded database is back (restart %d)", self.restarts)

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
        stop_process(self.proc, address=self.address)
        if self.is_alive():
            self.join()


# The oplog holds every write, GridFS chunks included, until it is pruned: SecantusDB's own
# limits (an hour, 100,000 writes) let it grow to about the size of what was stored. An edge
# disk keeps ten minutes (the change feed's resume window across a restart) and 2,000 writes
# (at most 2,000 chunks of 255 KiB, about 0.5 GB).
OPLOG_RETENTION_S = 600.0
OPLOG_MAX_ENTRIES = 2_000

# What the database grows by while a large file is written is bounded by its WiredTiger cache:
# chunks leave the cache once written out, but dirty pages gather up to a share of it first
# (bench/database_memory.py, a 1 GiB upload: +110-127 MB with 512 MiB, +171-176 MB with
# SecantusDB's default of 1 GiB, +339 MB with 4 GiB). Given on the command line, so that a
# secantusd.toml the database finds in its search path cannot raise it.
CACHE_SIZE = "512M"


def embedded_command(
    port: int,
    data_dir: Path,
    oplog_retention_s: float = OPLOG_RETENTION_S,
    oplog_max_entries: int = OPLOG_MAX_ENTRIES,
) -> list[str]:
    """The command line of the embedded database on `port`, storing in `data_dir/db`."""
    return [
        *(secantus_command(), "--host", "127.0.0.1", "--port", str(port)),
        *("--storage-path", str(data_dir / "db"), "--sync-on-commit"),
        *("--cache-size", CACHE_SIZE),
        *("--oplog-retention-seconds", str(max(1, round(oplog_retention_s)))),
        *("--oplog-max-entries", str(oplog_max_entries)),
    ]


def disk_bytes(data_dir: Path) -> int:
    """Bytes the embedded database's files take in `data_dir` (its `db` folder)."""
    folder = data_dir / "db"
    files = folder.rglob("*") if folder.is_dir() else iter(())
    return sum(path.stat().st_size for path in files if path.is_file())


@contextlib.contextmanager
def embedded_database(
    data_dir: Path,
    oplog_retention_s: float = OPLOG_RETENTION_S,
    oplog_max_entries: int = OPLOG_MAX_ENTRIES,
) -> Iterator[str]:
    """Run SecantusDB on `data_dir/db` for the duration of the block; yield its MongoDB URL.

    It commits durably (`--sync-on-commit`), keeps an oplog bounded for an edge disk, and is
    restarted should it die meanwhile.
    """
    data_dir = data_dir.resolve()
    lock_file = _lock(data_dir)
    try:
        port = free_port()
        url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
        log_path = data_dir / "db.log"
        command = embedded_command(port, data_dir, oplog_retention_s, oplog_max_entries)
        supervisor = Supervisor(command, url, log_path, ("127.0.0.1", port))
        try:
            try:
                wait_for_ping(url, START_TIMEOUT_S, supervisor.proc)
            except DatabaseError as exc:
                raise DatabaseError(f"{exc}; see {log_path}") from None
            supervisor.start()
            yield url
        finally:
            supervisor.stop()
    finally:
        lock_file.close()
