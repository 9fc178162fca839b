"""docs/API.md and docs/schema.graphql say what the server does: the three cannot drift apart."""

import re
import subprocess
import sys
from pathlib import Path

import graphql
from api_table import TABLE
from flrepo.graph.schema import schema

DOCS = Path(__file__).resolve().parent.parent / "docs"
API = (DOCS / "API.md").read_text()


def test_schema_file_is_the_servers_schema():
    exported = subprocess.run(
        [sys.executable, "-m", "flrepo.cli.main", "schema"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert exported == schema.as_str() + "\n"
    assert (DOCS / "schema.graphql").read_text() == exported, (
        "docs/schema.graphql is out of date: run `flrepo schema > docs/schema.graphql`"
    )


def _contract_block() -> graphql.DocumentNode:
    block = re.search(r"```graphql\n(.*?)```", API, re.S)
    assert block, "docs/API.md has no graphql block"
    return graphql.parse(block.group(1))


def test_every_type_field_and_argument_of_api_md_is_served():
    served = graphql.build_schema(schema.as_str())
    checked = 0
    for definition in _contract_block().definitions:
        name = definition.name.value
        live = served.get_type(name)
        assert live is not None, f"API.md names type {name}, which the schema lacks"
        for field in getattr(definition, "fields", None) or []:
            live_field = live.fields.get(field.name.value)
            where = f"{name}.{field.name.value}"
            assert live_field is not None, f"API.md names {where}, which the schema lacks"
            assert str(live_field.type) == graphql.print_ast(field.type), where
            for arg in getattr(field, "arguments", None) or []:
                live_arg = live_field.args.get(arg.name.value)
                assert live_arg is not None, f"{where} lacks argument {arg.name.value}"
                assert str(live_arg.type) == graphql.print_ast(arg.type), where
            checked += 1
    assert checked > 60  # the whole block was read, not a fragment of it


def test_rest_table_of_api_md_is_the_tested_table():
    rows = re.findall(r"^\| (GET|POST|PUT|DELETE) `([^`?]+)", API, re.M)
    assert sorted(rows) == sorted((method, path) for method, path, _, _ in TABLE)


def test_api_md_points_nowhere_outside_the_repository():
    assert "../shared" not in API
