"""Collection metadata as mongodump records it: canonical Extended JSON with options and indexes."""

from dataclasses import dataclass, field
from typing import Any

from bson import json_util
from bson.json_util import CANONICAL_JSON_OPTIONS
from flrepo.seed.errors import CorruptDumpError


@dataclass(frozen=True)
class CollectionInfo:
    """One collection of a dump: its namespace, metadata text, size and type."""

    db: str
    collection: str
    metadata: str = ""
    size: int = 0
    type: str = "collection"
    _parsed: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def namespace(self) -> str:
        return f"{self.db}.{self.collection}"

    def parsed(self) -> dict[str, Any]:
        """The metadata document (empty when the dump had none)."""
        if not self.metadata.strip():
            return {}
        if not self._parsed:
            self._parsed.update(parse_metadata(self.metadata, self.namespace))
        return self._parsed

    def indexes(self) -> list[dict[str, Any]]:
        """Index specifications from the metadata, `_id_` and the obsolete `ns` left out."""
        out = []
        for index in self.parsed().get("indexes") or []:
            if isinstance(index, dict) and index.get("key") == {"_id": 1}:
                continue
            if (
                not isinstance(index, dict)
                or not isinstance(index.get("key"), dict)
                or not index["key"]
                or not isinstance(index.get("name"), str)
            ):
                raise CorruptDumpError(f"metadata of {self.namespace} has an invalid index entry")
            out.append({k: v for k, v in index.items() if k not in ("ns", "v")})
        return out


def parse_metadata(text: str, namespace: str) -> dict[str, Any]:
    """Parse a metadata document written as (canonical or relaxed) Extended JSON."""
    try:
        value = json_util.loads(text)
    except (ValueError, TypeError) as exc:
        raise CorruptDumpError(f"metadata of {namespace} is not Extended JSON ({exc})") from None
    if not isinstance(value, dict):
        raise CorruptDumpError(f"metadata of {namespace} is not a JSON object")
    return value


def metadata_json(
    collection: str,
    indexes: list[dict[str, Any]],
    options: dict[str, Any] | None = None,
    uuid: str | None = None,
    kind: str = "collection",
) -> str:
    """The metadata text mongodump writes for a collection or view, in canonical Extended JSON."""
    document: dict[str, Any] = {"options": options or {}, "indexes": indexes}
    if uuid:
        document["uuid"] = uuid
    document["collectionName"] = collection
    document["type"] = kind
    return json_util.dumps(
        document, json_options=CANONICAL_JSON_OPTIONS, separators=(",", ":"), ensure_ascii=False
    )
