"""How an import is judged: picklescan's lists of dangerous and innocuous globals, plus ours.

An import is a pair (module, attribute); anything not known to be innocuous is suspicious.
"""

import _compat_pickle
import re
from typing import Any

from picklescan.scanner import _safe_globals, _unsafe_globals

Name = tuple[str, str]  # (module, attribute), as the unpickler's find_class gets them
UNKNOWN: Name = ("<unknown>", "")  # a STACK_GLOBAL whose names are computed, not literal strings
# A STACK_GLOBAL whose names the walk had known but did not keep (past a bound of its models).
UNFOLLOWED: Name = ("<not followed>", "")

# Our additions to picklescan's lists.
DANGEROUS_NAMES = {
    "builtins": {"__import__", "setattr", "delattr", "globals", "locals", "vars", "input"},
    "importlib": "*",
    "marshal": "*",
    "multiprocessing": "*",
    "_posixsubprocess": "*",
    "types": {"FunctionType", "LambdaType", "MethodType"},
    "code": "*",
    "codeop": "*",
}
INNOCUOUS_NAMES = {
    "builtins": {
        "set", "frozenset", "bytearray", "bytes", "complex", "slice", "range", "object",
        "int", "float", "str", "list", "dict", "tuple", "bool",
    },
    "_codecs": {"encode"},
    "copyreg": {"_reconstructor"},
    "collections": {"OrderedDict", "defaultdict", "deque", "Counter"},
    "datetime": {"datetime", "date", "time", "timedelta", "timezone"},
    "decimal": {"Decimal"},
    "fractions": {"Fraction"},
    "numpy": {
        "ndarray", "dtype", "bool_", "int8", "int16", "int32", "int64", "uint8", "uint16",
        "uint32", "uint64", "float16", "float32", "float64", "complex64", "complex128",
    },
    "numpy.core.multiarray": {"_reconstruct", "scalar"},
    "numpy._core.multiarray": {"_reconstruct", "scalar"},
    "numpy.core.numeric": {"_frombuffer"},
    "numpy._core.numeric": {"_frombuffer"},
    "numpy.random._pickle": {"__randomstate_ctor", "__bit_generator_ctor", "__generator_ctor"},
    "torch": {
        "Size", "device", "float16", "float32", "float64", "bfloat16", "int8", "int16",
        "int32", "int64", "uint8", "bool", "complex64", "complex128", "UntypedStorage",
    },
    "torch._utils": {"_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter"},
    "torch._tensor": {"_rebuild_from_type_v2"},
    "joblib.numpy_pickle": {"NumpyArrayWrapper"},
}  # fmt: skip
DANGEROUS_BUILTINS = set(_unsafe_globals["builtins"]) | DANGEROUS_NAMES["builtins"]
# Estimator classes of scikit-learn (`sklearn.linear_model._base.LinearRegression`).
SKLEARN_CLASS = re.compile(r"sklearn(\.\w+)+\.[A-Z]\w*")


def classify(name: str) -> str:
    """'dangerous', 'innocuous' or 'suspicious' for an import written `module attribute`."""
    module, _, attribute = name.partition(" ")
    return classify_pair(module, attribute)


def classify_pair(module: str, attribute: str) -> str:
    """'dangerous', 'innocuous' or 'suspicious' for an import of `attribute` from `module`.

    Protocol 4 looks dotted attributes up step by step (`posixpath` + `os.system`), so a
    dotted attribute naming a dangerous module or a dunder is dangerous too. Protocols 0-2
    import Python 2 names under their Python 3 names: both are judged.
    """
    if (module, attribute) == UNKNOWN:
        return "dangerous"
    if (module, attribute) == UNFOLLOWED:
        return "suspicious"
    written = (module, attribute)
    module, attribute = py3_name(*written)
    if _dangerous(*written) or _dangerous(module, attribute):
        return "dangerous"
    if "." not in attribute and (
        _listed(_safe_globals, module, attribute)
        or attribute in INNOCUOUS_NAMES.get(module, ())
        or SKLEARN_CLASS.fullmatch(f"{module}.{attribute}")
    ):
        return "innocuous"
    return "suspicious"


def dotted(name: Name) -> str:
    """An import as Python writes it: `module.attribute`."""
    return name[0] if name in (UNKNOWN, UNFOLLOWED) else f"{name[0]}.{name[1]}"


def _listed(lists: dict[str, Any], module: str, name: str) -> bool:
    entry = lists.get(module)
    if entry is None:
        return False
    if entry == "*":
        return True
    names = {entry} if isinstance(entry, str) else entry
    return name in names or name.split(".", 1)[0] in names


def _dangerous_module(module: str) -> bool:
    """A module every name of which is dangerous, or a submodule of one."""
    parts = module.split(".")
    prefixes = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    lists = (_unsafe_globals, DANGEROUS_NAMES)
    return any(names.get(prefix) == "*" for names in lists for prefix in prefixes)


def _dangerous(module: str, attribute: str) -> bool:
    if _dangerous_module(module):
        return True
    if any(_listed(names, module, attribute) for names in (_unsafe_globals, DANGEROUS_NAMES)):
        return True
    steps = attribute.split(".")
    return len(steps) > 1 and any(
        step.startswith("__") or _dangerous_module(step) or step in DANGEROUS_BUILTINS
        for step in steps
    )


def py3_name(module: str, attribute: str) -> tuple[str, str]:
    """The name Python 3 imports for a protocol 0-2 pickle naming a Python 2 one."""
    if (module, attribute) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, attribute)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), attribute
