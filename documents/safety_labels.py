"""Labelling files already stored (restored, or written before scanning) with a pickle scan."""

from collections import Counter
from dataclasses import dataclass, field

from flrepo.documents.files import ByteProgress, FileStore, whole_number
from flrepo.scanner.stream import FileScanner
from flrepo.scanner.verdicts import SCANNER
from gridfs.errors import CorruptGridFile


@dataclass
class LabelReport:
    """How many files were scanned, and with which verdicts."""

    verdicts: Counter[str] = field(default_factory=Counter)
    nbytes: int = 0
    unreadable: list[str] = field(default_factory=list)  # ids of files missing chunks

    @property
    def files(self) -> int:
        return sum(self.verdicts.values())

    def summary(self) -> str:
        counts = ", ".join(f"{n} {verdict}" for verdict, n in sorted(self.verdicts.items()))
        text = f"scanned {self.files} file{'s' if self.files != 1 else ''}"
        text += f": {counts}" if counts else ""
        if self.unreadable:
            text += f"; unreadable (missing chunks), left unscanned: {', '.join(self.unreadable)}"
        return text


async def label_files(
    files: FileStore, rescan: bool = False, progress: ByteProgress | None = None
) -> LabelReport:
    """Scan the files never scanned, or scanned by an older scanner (every file with
    `rescan`), reading each chunk by chunk, with the store's allowlists and budget."""
    query = {} if rescan else {"safety.scanner": {"$ne": SCANNER}}  # none, or an older one
    fields = {"_id": 1, "length": 1, "filename": 1}
    todo = [
        (str(doc["_id"]), whole_number(doc.get("length")), str(doc.get("filename") or ""))
        async for doc in files.files.find(query, fields).sort("_id", 1)
    ]
    total = sum(length for _, length, _ in todo)
    report = LabelReport()
    done = 0
    for file_id, length, filename in todo:
        scanner = FileScanner(files.scanning.allowlist(filename), files.scanning.budget)
        read = 0
        try:
            async for chunk in files.stream(file_id):
                scanner.feed(chunk)
                read += len(chunk)
                if progress:
                    progress(done + read, total)
                if scanner.done:  # the rest cannot change the verdict
                    break
        except CorruptGridFile:
            report.unreadable.append(file_id)
            continue
        finally:
            done += length
            report.nbytes += read
        safety = scanner.result()
        if await files.set_safety(file_id, safety):  # else deleted meanwhile
            report.verdicts[safety.verdict.value] += 1
    return report
