"""What federated learning parties store every day reads clean: SAFE or NOT_PICKLE, no notes."""

import bz2
import gzip
import io
import lzma
import pickle
import zipfile

import numpy
import pytest
from flrepo.scanner.allowlists import Allowlists
from flrepo.scanner.stream import FileScanner
from flrepo.scanner.verdicts import Safety, Verdict
from pickles import (
    Unseekable,
    sklearn_model_pickle,
    stand_in_modules,
    torch_checkpoint,
    zipped,
)


def scan(data: bytes, allow: str = "", filename: str = "model/m/1") -> Safety:
    scanner = FileScanner(Allowlists.parse(allow).for_file(filename))
    for i in range(0, len(data), 10_000):
        scanner.feed(data[i : i + 10_000])
    return scanner.result()


def assert_clean(result: Safety, verdict: Verdict) -> None:
    assert result.verdict == verdict, result
    assert result.notes == (), result
    assert result.dangerous_globals == result.suspicious_globals == ()


def npy(array: numpy.ndarray, **options) -> bytes:
    out = io.BytesIO()
    numpy.save(out, array, **options)
    return out.getvalue()


ARRAYS = {
    "float32": numpy.arange(1000, dtype=numpy.float32).reshape(10, 100),
    "int8": numpy.ones(7, dtype=numpy.int8),
    "bool": numpy.array([True, False]),
    "complex": numpy.zeros(3, dtype=numpy.complex128),
    "fortran": numpy.asfortranarray(numpy.ones((3, 4))),
    "text": numpy.array(["a", "bc"]),
    "bytes": numpy.array([b"a", b"bc"]),
    "datetime": numpy.array(["2024-01-01"], dtype="datetime64[ns]"),
    "structured": numpy.zeros(2, dtype=[("w", "<f4"), ("n", [("a", "<i8"), ("b", "|b1")])]),
    "big-endian": numpy.ones(3, dtype=">f8"),
    "empty": numpy.zeros((0, 3)),
}


@pytest.mark.parametrize("array", ARRAYS.values(), ids=ARRAYS.keys())
def test_numeric_npy_files_hold_no_pickle(array):
    assert_clean(scan(npy(array)), Verdict.NOT_PICKLE)


def test_npz_archives_of_numbers_hold_no_pickle():
    for save in (numpy.savez, numpy.savez_compressed):
        out = io.BytesIO()
        save(out, **{name.replace("-", "_"): a for name, a in ARRAYS.items()})
        assert_clean(scan(out.getvalue()), Verdict.NOT_PICKLE)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_pickled_arrays_and_object_arrays_of_plain_values_are_safe(protocol):
    weights = {name: array for name, array in ARRAYS.items() if name != "datetime"}
    assert_clean(scan(pickle.dumps(weights, protocol=protocol)), Verdict.SAFE)
    objects = numpy.array([1, "two", (3.0, None)], dtype=object)
    assert_clean(scan(npy(objects, allow_pickle=True)), Verdict.SAFE)


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress])
def test_compressed_pickles_of_arrays_are_safe(compress):
    data = pickle.dumps([numpy.ones((50, 50)), {"round": 3}], protocol=4)
    assert_clean(scan(compress(data)), Verdict.SAFE)


def sklearn_pipeline_pickle() -> bytes:
    """A fitted scaler and classifier in a pipeline, pickled under scikit-learn's names."""

    class StandardScaler:
        def __init__(self) -> None:
            self.mean_ = numpy.zeros(4)
            self.scale_ = numpy.ones(4)

    class LogisticRegression:
        def __init__(self) -> None:
            self.coef_ = numpy.ones((1, 4))
            self.classes_ = numpy.array([0, 1])

    class Pipeline:
        def __init__(self) -> None:
            self.steps = [("scale", StandardScaler()), ("clf", LogisticRegression())]

    modules = {
        "sklearn": {},
        "sklearn.preprocessing": {},
        "sklearn.preprocessing._data": {"StandardScaler": StandardScaler},
        "sklearn.linear_model": {},
        "sklearn.linear_model._logistic": {"LogisticRegression": LogisticRegression},
        "sklearn.pipeline": {"Pipeline": Pipeline},
    }
    with stand_in_modules(**modules):
        return pickle.dumps(Pipeline(), protocol=5)


def test_scikit_learn_like_estimators_are_safe():
    assert_clean(scan(sklearn_model_pickle()), Verdict.SAFE)
    assert_clean(scan(sklearn_pipeline_pickle()), Verdict.SAFE)


def test_a_large_vocabulary_does_not_outgrow_the_models():
    """A text vectoriser's vocabulary: tens of thousands of memoised strings, then arrays."""
    vocabulary = {f"word{i}": i for i in range(30_000)}
    state = {"vocabulary_": vocabulary, "idf_": numpy.ones(30_000), "dtype": numpy.float64}
    for protocol in (2, 4, 5):
        assert_clean(scan(pickle.dumps(state, protocol=protocol)), Verdict.SAFE)


def test_a_flower_like_strategy_under_an_allowlist_is_safe():
    class FedAvg:
        def __init__(self) -> None:
            self.initial_parameters = [numpy.zeros(3)]

    with stand_in_modules(
        flwr={}, **{"flwr.server": {}, "flwr.server.strategy": {"FedAvg": FedAvg}}
    ):
        data = pickle.dumps(FedAvg(), protocol=4)
    allow = "strategy:flwr.server.strategy"
    result = scan(data, allow, "strategy/fedavg")
    assert_clean(result, Verdict.SAFE)
    assert result.allowed_by == (allow,)


@pytest.mark.parametrize("seekable", [True, False], ids=["sizes", "data-descriptors"])
def test_keras_like_archives_hold_no_pickle(seekable):
    members = {
        "metadata.json": b'{"keras_version": "3.4.1"}',
        "config.json": b'{"class_name": "Sequential", "config": {"layers": []}}',
        "model.weights.h5": b"\x89HDF\r\n\x1a\n" + bytes(50_000),
    }
    data = zipped(members, zipfile.ZIP_DEFLATED, seekable)
    assert_clean(scan(data), Verdict.NOT_PICKLE)


def test_zip64_archives_are_read():
    out = io.BytesIO()
    with zipfile.ZipFile(Unseekable(out), "w", zipfile.ZIP_STORED) as archive:  # type: ignore[arg-type]
        for name in ("archive/data.pkl", "archive/version"):
            with archive.open(name, "w", force_zip64=True) as member:
                member.write(pickle.dumps([1, 2]) if name.endswith("pkl") else b"3\n")
    assert_clean(scan(out.getvalue()), Verdict.SAFE)


def test_a_pytorch_checkpoint_is_safe():
    assert_clean(scan(torch_checkpoint()), Verdict.SAFE)
