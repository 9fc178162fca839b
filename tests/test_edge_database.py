"""The embedded database on an edge disk: a bounded oplog, and `flrepo check` telling live
bytes from bytes on disk (SecantusDB cannot compact, so space is reused, not given back)."""

import re
from pathlib import Path

import psutil
import pytest

from flrepo.cli.main import main
from flrepo.cli.options import database_url
from flrepo.embedded import embedded_command
from flrepo.settings import Settings


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_the_oplog_is_bounded_for_an_edge_disk(tmp_path: Path):
    command = embedded_command(5000, tmp_path)
    assert option(command, "--oplog-retention-seconds") == "600"
    assert option(command, "--oplog-max-entries") == "2000"
    assert option(command, "--storage-path") == str(tmp_path / "db")
    assert option(command, "--cache-size") == "512M"  # bounds its growth during an upload
    tuned = embedded_command(5000, tmp_path, oplog_retention_s=30, oplog_max_entries=50)
    assert option(tuned, "--oplog-retention-seconds") == "30"
    assert option(tuned, "--oplog-max-entries") == "50"


def test_serve_passes_the_settings_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """The database `flrepo serve` starts runs with the configured limits."""

    for var in ("FLREPO_MONGODB_URL", "DB_ADDRESS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("FLREPO_OPLOG_RETENTION_S", "120")
    monkeypatch.setenv("FLREPO_OPLOG_MAX_ENTRIES", "345")
    settings = Settings(data_dir=tmp_path / "data")
    assert (settings.oplog_retention_s, settings.oplog_max_entries) == (120, 345)
    with database_url(settings):
        children = psutil.Process().children(recursive=True)
        ours = str(tmp_path / "data" / "db")  # not the session's database, another child
        lines = [c.cmdline() for c in children if ours in c.cmdline()]
    assert len(lines) == 1, lines
    assert option(lines[0], "--oplog-retention-seconds") == "120"
    assert option(lines[0], "--oplog-max-entries") == "345"


def test_check_reports_live_and_disk_bytes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    for var in ("FLREPO_MONGODB_URL", "DB_ADDRESS"):
        monkeypatch.delenv(var, raising=False)
    assert main(["check", "--data-dir", str(tmp_path / "data")]) == 0
    err = capsys.readouterr().err
    found = re.search(r"storage: ([\d,]+) bytes of live .*, ([\d,]+) bytes on disk", err)
    assert found, err
    live, disk = (int(n.replace(",", "")) for n in found.groups())
    assert 0 <= live < disk


def test_check_of_a_server_reports_live_bytes(names: Settings, capsys):
    assert main(["check", "--mongodb-url", names.mongodb_url or ""]) == 0
    err = capsys.readouterr().err
    assert re.search(r"storage: [\d,]+ bytes of live data and indexes$", err, re.M), err
    assert "on disk" not in err
