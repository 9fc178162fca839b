"""Operator allowlists, per kind of file, and the policies that refuse uploads by verdict."""

import pickle
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pydantic
import pytest
from bson import ObjectId
from flrepo.documents.errors import DangerousPickle
from flrepo.documents.files import FileStore
from flrepo.documents.safety_labels import label_files
from flrepo.scanner.allowlists import Allowlists
from flrepo.scanner.scanning import Scanning
from flrepo.scanner.stream import FileScanner
from flrepo.scanner.verdicts import NEVER_SCANNED, REFUSED, Safety, Verdict, refuses
from helpers import grid_counts
from pickles import global_call, stack_global_call, stand_in_modules

from flrepo.settings import Settings


def fedavg_pickle() -> bytes:
    """A Flower FedAvg strategy as pickled by a party: its class and a config function."""

    class FedAvg:
        def __init__(self) -> None:
            self.fraction_fit = 0.5
            self.on_fit_config_fn = fit_config

    def fit_config(server_round: int) -> dict:
        return {"round": server_round}

    modules = {
        "flwr": {},
        "flwr.server": {},
        "flwr.server.strategy": {"FedAvg": FedAvg},
        "flwr_party": {},
        "flwr_party.config": {"fit_config": fit_config},
    }
    with stand_in_modules(**modules):
        return pickle.dumps(FedAvg(), protocol=4)


def transformation_pickle() -> bytes:
    def normalise(x: float) -> float:
        return x

    with stand_in_modules(**{"mylib": {}, "mylib.transforms": {"normalise": normalise}}):
        return pickle.dumps([normalise], protocol=2)


def scan(data: bytes, allow: str = "", filename: str = "strategy/s") -> Safety:
    scanner = FileScanner(Allowlists.parse(allow).for_file(filename))
    scanner.feed(data)
    return scanner.result()


def test_a_flower_strategy_is_suspicious_until_allowed():
    data = fedavg_pickle()
    result = scan(data)
    assert result.verdict == Verdict.SUSPICIOUS
    assert result.suspicious_globals == (
        "flwr.server.strategy.FedAvg",
        "flwr_party.config.fit_config",
    )
    assert result.allowed_by == ()

    result = scan(data, "flwr.server.strategy, strategy:flwr_party")
    assert result.verdict == Verdict.SAFE, result
    assert result.allowed_by == ("flwr.server.strategy", "strategy:flwr_party")
    assert result.suspicious_globals == ()

    partly = scan(data, "flwr")  # the party's own module is not allowed
    assert partly.verdict == Verdict.SUSPICIOUS
    assert partly.suspicious_globals == ("flwr_party.config.fit_config",)
    assert partly.allowed_by == ("flwr",)


def test_an_entry_applies_to_its_kind_of_file_only():
    data = transformation_pickle()
    allow = "transformation:mylib.transforms"
    assert scan(data, allow, "transformation/t1").verdict == Verdict.SAFE
    assert scan(data, allow, "model/m/1").verdict == Verdict.SUSPICIOUS
    assert scan(data, allow, "elsewhere").verdict == Verdict.SUSPICIOUS
    assert scan(data, "mylib", "model/m/1").verdict == Verdict.SAFE  # no kind: every kind
    assert scan(data, "mylib.trans", "transformation/t1").verdict == Verdict.SUSPICIOUS  # prefix
    # of modules, not of strings


@pytest.mark.parametrize(
    ("data", "allow"),
    [
        (global_call("os", "system", "id"), "os"),
        (global_call("posix", "system", "id"), "posix,os"),
        (stack_global_call("builtins", "eval", "1"), "builtins"),
        (stack_global_call("subprocess", "Popen", "id"), "subprocess"),
        (stack_global_call("mylib", "helpers.__globals__", "x"), "mylib"),  # out of the module
    ],
)
def test_dangerous_globals_stay_dangerous_whatever_is_allowed(data, allow):
    result = scan(data, allow)
    assert result.verdict == Verdict.DANGEROUS
    assert result.allowed_by == ()


def test_a_dotted_attribute_walks_out_of_the_allowed_module():
    result = scan(stack_global_call("mylib", "np.load", "x"), "mylib")
    assert result.verdict == Verdict.SUSPICIOUS
    assert result.suspicious_globals == ("mylib.np.load",)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("os;rm", "not a module name"),
        ("strategies:flwr", "kind must be one of"),
        ("model:", "not a module name"),
        ("flwr..server", "not a module name"),
    ],
)
def test_bad_allowlist_entries_are_refused_by_name(text, error, monkeypatch):
    with pytest.raises(ValueError, match=error):
        Allowlists.parse(text)
    monkeypatch.setenv("FLREPO_PICKLE_ALLOW", text)
    with pytest.raises(pydantic.ValidationError, match="pickle_allow"):
        Settings()


def test_the_allowlist_setting(monkeypatch):
    monkeypatch.setenv("FLREPO_PICKLE_ALLOW", " flwr.server.strategy ,strategy:mylib.agg,")
    allowlists = Settings().scanning.allowlists
    assert allowlists.entries == (
        (None, "flwr.server.strategy"),
        ("strategy", "mylib.agg"),
    )
    assert Settings().scanning.allowlist("model/x/1").entries == (
        ("flwr.server.strategy", "flwr.server.strategy"),
    )


def test_refuses():
    table = {
        policy: {verdict for verdict in Verdict if refuses(policy, Safety(verdict))}
        for policy in REFUSED
    }
    assert table == {
        "report": set(),
        "refuse": {Verdict.DANGEROUS},
        "refuse-suspicious": {Verdict.DANGEROUS, Verdict.SUSPICIOUS},
    }


def test_verdicts_stored_before_allowlists_still_read():
    old = {
        "verdict": "SUSPICIOUS",
        "globals": ["fedlib.Strategy"],
        "dangerousGlobals": [],
        "notes": [],
        "scanner": "flrepo-pickle-scan/1 (picklescan 1.0.5 lists)",
        "scannedAt": None,
    }
    safety = Safety.from_document(old)
    assert safety.verdict == Verdict.SUSPICIOUS
    assert safety.allowed_by == safety.suspicious_globals == ()
    new = scan(fedavg_pickle(), "flwr")
    assert Safety.from_document(new.document()) == new
    assert Safety.from_document(None) == NEVER_SCANNED


# through the file store, as both upload paths use it


@dataclass
class Source:
    data: bytes
    content_type: str | None = None
    filename: str | None = None
    min_length: int = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        for i in range(0, len(self.data), 1000):
            yield self.data[i : i + 1000]


async def test_refuse_suspicious_stores_nothing_suspicious_and_lets_allowed_files_in(grid):
    scanning = Scanning(Allowlists.parse("strategy:flwr,strategy:flwr_party"))
    store = FileStore(grid, 1 << 20, pickle_policy="refuse-suspicious", scanning=scanning)
    before = await grid_counts(grid)
    with pytest.raises(DangerousPickle) as refused:
        await store.put("model/m/1", Source(fedavg_pickle()))  # no entry for models
    assert "flwr.server.strategy.FedAvg" in str(refused.value)
    assert await grid_counts(grid) == before

    stored = await store.put("strategy/s", Source(fedavg_pickle()))
    doc = await grid["fs.files"].find_one({"_id": ObjectId(stored.id)})
    assert doc["safety"]["verdict"] == "SAFE"
    assert doc["safety"]["allowedBy"] == ["strategy:flwr", "strategy:flwr_party"]

    with pytest.raises(DangerousPickle):
        await store.put("strategy/s", Source(global_call("os", "system", "id")))


async def test_flrepo_scan_relabels_with_the_allowlists(grid):
    plain = FileStore(grid, 1 << 20)
    stored = await plain.put("strategy/s", Source(fedavg_pickle()))
    assert stored.safety.verdict == Verdict.SUSPICIOUS
    allowing = FileStore(grid, 1 << 20, scanning=Scanning(Allowlists.parse("flwr,flwr_party")))
    assert (await label_files(allowing)).files == 0  # labelled by this scanner already
    report = await label_files(allowing, rescan=True)
    assert report.verdicts == {"SAFE": 1}
    relabelled = await allowing.get(stored.id)
    assert relabelled.safety.allowed_by == ("flwr", "flwr_party")
    # files labelled by an older scanner are scanned again without --rescan
    await grid["fs.files"].update_one(
        {"_id": ObjectId(stored.id)}, {"$set": {"safety.scanner": "old"}}
    )
    assert (await label_files(allowing)).verdicts == {"SAFE": 1}
