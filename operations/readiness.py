"""Whether this process has brought the stored documents up to what rankings and
`models(trained:)` read: the ranking rows, `metrics_numeric` and `trained` of documents
written without it (restores, older versions; documents/backfill.py).

The server starts that work in the background and answers at once; until it is done the
queries whose answers it would change raise NotReady (`check`), and others are unaffected.
"""

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from flrepo.documents.backfill import backfill
from flrepo.documents.errors import NotReady
from flrepo.documents.ranks import drop_old_rows
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

log = logging.getLogger(__name__)
RETRY_S = 30.0  # after a failure (the database away), the next try
MESSAGE = "the rankings and trained flags are being built after a restart; retry in a moment"
# Set once the documents are up to date; None while nothing is pending in this process
# (the operations bind one database per process, so one state serves them).
_done: asyncio.Event | None = None


def check() -> None:
    """NotReady while the documents are being brought up to date."""
    if _done is not None and not _done.is_set():
        raise NotReady(MESSAGE)


async def wait() -> None:
    """Until the documents are up to date."""
    if _done is not None:
        await _done.wait()


def prepare(db: AsyncDatabase) -> Coroutine[Any, Any, None]:
    """From now on not ready; the work that makes it ready, to run in the background."""
    global _done
    _done = asyncio.Event()
    return _prepare(db, _done)


async def _prepare(db: AsyncDatabase, done: asyncio.Event) -> None:
    while True:
        try:
            if await drop_old_rows(db):
                log.info("dropped the ranking rows of an older version; ranking again")
            await backfill(db)
        except PyMongoError as exc:  # the database is away: one line, not a traceback
            log.warning("backfill failed: %s; trying again in %.0f s", exc, RETRY_S)
        except Exception:
            log.exception("backfill failed; trying again in %.0f s", RETRY_S)
        else:
            done.set()
            return
        await asyncio.sleep(RETRY_S)
