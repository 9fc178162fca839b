"""Operator allowlists: modules whose globals count as safe, for every kind of file or one.

`FLREPO_PICKLE_ALLOW` is a comma list of entries, each a module or module prefix, alone
(every kind of file) or after a kind (`strategy:mylib.agg`). A global counts as safe when
its module is the entry's module or lies under it. An allowlist only lifts what would be
SUSPICIOUS: a global judged dangerous (`os.system`, `builtins.eval`, a dunder or a dangerous
module on a dotted path) stays DANGEROUS whatever the allowlist names, so allowing `os`
allows nothing of `os`'s that runs commands. Only plain attributes are allowed: a dotted one
(`mylib.np.load`) walks out of the allowed module and stays SUSPICIOUS.
"""

import re
from dataclasses import dataclass

from flrepo.scanner.rules import Name, py3_name

# The kinds of stored files, as their GridFS names begin (`strategy/FedAvg`).
KINDS = ("model", "weights", "strategy", "transformation")
MODULE = re.compile(r"[^\W\d]\w*(\.[^\W\d]\w*)*")


@dataclass(frozen=True)
class Allowlist:
    """The entries that apply to one file: (entry as written, module prefix)."""

    entries: tuple[tuple[str, str], ...] = ()

    def entry_for(self, name: Name) -> str | None:
        """The entry that allows this global, if one does."""
        module, attribute = py3_name(*name)
        if "." in attribute:
            return None
        for written, prefix in self.entries:
            if module == prefix or module.startswith(prefix + "."):
                return written
        return None


NO_ALLOWLIST = Allowlist()


@dataclass(frozen=True)
class Allowlists:
    """Every entry of `FLREPO_PICKLE_ALLOW`: (kind, or None for every kind; module prefix)."""

    entries: tuple[tuple[str | None, str], ...] = ()

    @classmethod
    def parse(cls, text: str) -> "Allowlists":
        """Read `kind:module,module,...`; ValueError names a bad entry."""
        entries: list[tuple[str | None, str]] = []
        for raw in text.split(","):
            entry = raw.strip()
            if not entry:
                continue
            kind, _, module = entry.rpartition(":")
            if kind and kind not in KINDS:
                raise ValueError(f"{entry!r}: the kind must be one of {', '.join(KINDS)}")
            if not MODULE.fullmatch(module):
                raise ValueError(f"{entry!r}: {module!r} is not a module name")
            entries.append((kind or None, module))
        return cls(tuple(entries))

    def for_kind(self, kind: str | None) -> Allowlist:
        return Allowlist(
            tuple((f"{k}:{m}" if k else m, m) for k, m in self.entries if k is None or k == kind)
        )

    def for_file(self, filename: str) -> Allowlist:
        """The entries for a stored file, whose kind its name's first part tells."""
        kind = filename.split("/", 1)[0]
        return self.for_kind(kind if kind in KINDS else None)
