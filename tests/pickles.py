"""Hand-built pickles and archives for the scanning tests: malicious, benign, and neither.

Malicious ones are written opcode by opcode (they are never loaded); benign ones that name
libraries too big to install (PyTorch, scikit-learn) are pickled with stand-in modules under
those libraries' names, so the bytes are what the real libraries write.
"""

import contextlib
import io
import pickle
import struct
import sys
import types
import zipfile
from collections.abc import Iterator


def short_str(text: str) -> bytes:
    """SHORT_BINUNICODE: push a str (protocol 4+)."""
    data = text.encode()
    return b"\x8c" + bytes([len(data)]) + data


def framed(body: bytes, protocol: int = 4) -> bytes:
    """PROTO, one FRAME holding `body`, then STOP."""
    return bytes([0x80, protocol]) + b"\x95" + struct.pack("<Q", len(body) + 1) + body + b"."


def stack_global_call(module: str, name: str, arg: str, protocol: int = 4) -> bytes:
    """module.name(arg) through STACK_GLOBAL and REDUCE, strings memoised as pickle does."""
    body = short_str(module) + b"\x94" + short_str(name) + b"\x94\x93\x94"
    return framed(body + short_str(arg) + b"\x94\x85\x94R\x94", protocol)


def global_call(module: str, name: str, arg: str, protocol: int = 0) -> bytes:
    """module.name(arg) through GLOBAL and REDUCE (protocols 0-3)."""
    proto = bytes([0x80, protocol]) if protocol >= 2 else b""
    return proto + f"c{module}\n{name}\n(S'{arg}'\ntR.".encode()


# Each: (description, bytes, the dangerous import it must report)
MALICIOUS: list[tuple[str, bytes, str]] = [
    ("protocol 0 GLOBAL os.system", global_call("os", "system", "id"), "os.system"),
    ("protocol 0 GLOBAL posix.system", global_call("posix", "system", "id"), "posix.system"),
    ("protocol 0 GLOBAL nt.system", global_call("nt", "system", "dir"), "nt.system"),
    ("protocol 1 INST", b"(S'id'\nios\nsystem\n.", "os.system"),
    ("protocol 1 OBJ", b"(cos\nsystem\nS'id'\no.", "os.system"),
    (
        "protocol 2 subprocess.Popen",
        global_call("subprocess", "Popen", "id", 2),
        "subprocess.Popen",
    ),
    ("protocol 3 builtins.eval", global_call("builtins", "eval", "1", 3), "builtins.eval"),
    ("protocol 2 Python 2 __builtin__.eval", global_call("__builtin__", "eval", "1", 2), ""),
    ("protocol 0 commands.getoutput", global_call("commands", "getoutput", "id"), ""),
    ("protocol 4 STACK_GLOBAL exec", stack_global_call("builtins", "exec", "1"), "builtins.exec"),
    ("protocol 5 STACK_GLOBAL os.system", stack_global_call("os", "system", "id", 5), ""),
    (
        "protocol 4 getattr(__import__('os'), 'system')",
        framed(
            short_str("builtins")
            + short_str("getattr")
            + b"\x93"
            + short_str("builtins")
            + short_str("__import__")
            + b"\x93"
            + short_str("os")
            + b"\x85R"
            + short_str("system")
            + b"\x86R"
            + short_str("id")
            + b"\x85R"
        ),
        "builtins.getattr",
    ),
    (
        "protocol 4 dotted name through a module's os",
        stack_global_call("posixpath", "os.system", "id"),
        "posixpath.os.system",
    ),
    (
        "protocol 4 dotted name through __globals__",
        stack_global_call("collections", "OrderedDict.__init__.__globals__", "x"),
        "",
    ),
    (
        "protocol 4 names fetched back from the memo",
        framed(
            short_str("os")
            + b"\x94"
            + b"0"
            + short_str("system")
            + b"\x94"
            + b"0"
            + b"h\x00h\x01\x93"
            + short_str("id")
            + b"\x85R"
        ),
        "os.system",
    ),
    (
        "protocol 4 decoy strings pushed and popped after the real names",
        framed(
            short_str("os")
            + short_str("system")
            + short_str("collections")
            + short_str("OrderedDict")
            + b"00"
            + b"\x93"
            + short_str("id")
            + b"\x85R"
        ),
        "os.system",
    ),
    (
        "protocol 4 a name computed at load time",
        framed(
            short_str("os")
            + short_str("builtins")
            + short_str("str")
            + b"\x93"
            + short_str("system")
            + b"\x85R"
            + b"\x93"
            + short_str("id")
            + b"\x85R"
        ),
        "<unknown>",
    ),
    (
        "protocol 0 STACK_GLOBAL with UNICODE strings",
        b"Vos\nVsystem\n\x93(S'id'\ntR.",
        "os.system",
    ),
    (
        "a harmless pickle followed by a malicious one",
        pickle.dumps([1, 2], protocol=2) + global_call("os", "system", "id"),
        "os.system",
    ),
    (
        "protocol 4 BINUNICODE8 names",
        framed(
            b"\x8d"
            + struct.pack("<Q", 10)
            + b"subprocess"
            + b"\x8d"
            + struct.pack("<Q", 12)
            + b"check_output"
            + b"\x93"
            + short_str("id")
            + b"\x85R"
        ),
        "subprocess.check_output",
    ),
]


@contextlib.contextmanager
def stand_in_modules(**attributes: dict[str, object]) -> Iterator[None]:
    """Modules named like a library's, holding the given attributes, while the block runs."""
    saved = {name: sys.modules.get(name) for name in attributes}
    for name, attrs in attributes.items():
        module = types.ModuleType(name)
        for key, value in attrs.items():
            if isinstance(value, type | types.FunctionType):
                value.__module__ = name
                value.__qualname__ = key
            setattr(module, key, value)
        sys.modules[name] = module
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def torch_checkpoint_pickle() -> bytes:
    """`archive/data.pkl` as torch.save writes it for a state dict of one float tensor."""

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(*args: object) -> None:
        raise AssertionError("never called")

    class Tensor:
        def __reduce_ex__(self, protocol: int) -> tuple:
            storage = ("storage", FloatStorage, "0", "cpu", 4)
            return (_rebuild_tensor_v2, (storage, 0, (2, 2), (2, 1), False, OrderedDict()))

    from collections import OrderedDict

    class Checkpoint(pickle.Pickler):
        def persistent_id(self, obj: object) -> object:
            return obj if isinstance(obj, tuple) and obj and obj[0] == "storage" else None

    modules = {
        "torch": {"FloatStorage": FloatStorage},
        "torch._utils": {"_rebuild_tensor_v2": _rebuild_tensor_v2},
    }
    with stand_in_modules(**modules):
        out = io.BytesIO()
        Checkpoint(out, protocol=2).dump(
            OrderedDict([("fc.weight", Tensor()), ("fc.bias", Tensor())])
        )
    return out.getvalue()


def torch_checkpoint(data_pkl: bytes | None = None) -> bytes:
    """A PyTorch zip checkpoint: stored members, `archive/data.pkl` among them."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("archive/data.pkl", data_pkl or torch_checkpoint_pickle())
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/data/0", struct.pack("<4f", 1.0, 2.0, 3.0, 4.0))
        archive.writestr("archive/version", "3\n")
    return out.getvalue()


def sklearn_model_pickle() -> bytes:
    """A pickled scikit-learn estimator: its class, numpy arrays for the fitted weights."""
    import numpy

    class LinearRegression:
        def __init__(self) -> None:
            self.fit_intercept = True
            self.coef_ = numpy.array([0.5, 1.5])
            self.intercept_ = numpy.float64(0.25)
            self._sklearn_version = "1.5.0"

    modules = {
        "sklearn": {},
        "sklearn.linear_model": {},
        "sklearn.linear_model._base": {"LinearRegression": LinearRegression},
    }
    with stand_in_modules(**modules):
        return pickle.dumps(LinearRegression(), protocol=5)


def zipped(members: dict[str, bytes], compression: int, seekable: bool = True) -> bytes:
    """A zip archive; unseekable output makes zipfile write data descriptors."""
    out = io.BytesIO()
    target: io.RawIOBase | io.BytesIO = out if seekable else Unseekable(out)
    with zipfile.ZipFile(target, "w", compression) as archive:  # type: ignore[arg-type]
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


class Unseekable(io.RawIOBase):
    def __init__(self, out: io.BytesIO) -> None:
        self.out = out

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        return self.out.write(data)

    def flush(self) -> None:
        pass


def hidden_member_archive(payload: bytes) -> bytes:
    """A zip whose directory lists a member hidden inside another member's bytes.

    A walk over the local headers sees only `cover`; a reader going by the directory
    (as PyTorch and zipfile do) also finds `archive/data.pkl` inside it.
    """
    hidden_name = b"archive/data.pkl"
    hidden_header = struct.pack(
        "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 0, 0, 0,
        zipfile.crc32(payload), len(payload), len(payload), len(hidden_name), 0,
    ) + hidden_name  # fmt: skip
    cover_name = b"cover"
    padding = bytes(16)  # so that `cover` itself is no archive
    cover_data = padding + hidden_header + payload
    cover_header = struct.pack(
        "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 0, 0, 0,
        zipfile.crc32(cover_data), len(cover_data), len(cover_data), len(cover_name), 0,
    ) + cover_name  # fmt: skip
    hidden_offset = len(cover_header) + len(padding)
    body = cover_header + cover_data
    directory = b""
    for name, data, offset in (
        (cover_name, cover_data, 0),
        (hidden_name, payload, hidden_offset),
    ):
        directory += struct.pack(
            "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 0, 0, 0,
            zipfile.crc32(data), len(data), len(data), len(name), 0, 0, 0, 0, 0, offset,
        ) + name  # fmt: skip
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 2, 2, len(directory), len(body), 0)
    return body + directory + end
