"""Each scan's CPU time: a floor, and more for every MiB of the file, then it stops."""

import time
from dataclasses import dataclass

from flrepo.scanner.limits import BUDGET_S, BUDGET_S_PER_MIB

MIB = 1 << 20


class OverBudget(Exception):
    """The scan has used up its CPU time."""


@dataclass(frozen=True)
class Budget:
    """How much CPU time a scan may take: `floor_s`, plus `per_mib_s` for each MiB fed."""

    floor_s: float = BUDGET_S
    per_mib_s: float = BUDGET_S_PER_MIB

    def allowed(self, nbytes: int) -> float:
        return self.floor_s + self.per_mib_s * nbytes / MIB


class Meter:
    """The CPU time one scan has taken, counted on whichever thread feeds it.

    A resumable upload is fed by one request after another, each on its own thread, so the
    time is summed over the calls to `feed` (time.thread_time of the thread doing the work).
    """

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.fed = 0
        self.spent = 0.0
        self.started: float | None = None

    def start(self, nbytes: int) -> None:
        self.fed += nbytes
        self.started = time.thread_time()

    def stop(self) -> None:
        if self.started is not None:
            self.spent += time.thread_time() - self.started
            self.started = None

    def check(self) -> None:
        """Raise OverBudget once the scan has taken more CPU time than its file allows."""
        if self.started is None:
            return
        if self.spent + time.thread_time() - self.started > self.budget.allowed(self.fed):
            raise OverBudget(
                f"the scan took more than its {self.budget.allowed(self.fed):.1f} s of CPU "
                "time; the rest was not scanned"
            )


UNMETERED = Meter(Budget())  # never started: its checks pass
