"""Nested lists take a limit: the object estimate counts it (the default when none is given),
and the loader reads no more than a page per parent from the database."""

import pytest
from flrepo.graph.cost import check_cost, graphql_schema
from flrepo.graph.schema import schema
from helpers import GraphQL
from pymongo import monitoring


def estimate_passes(query: str, max_objects: int = 5000, **variables) -> bool:
    from flrepo.graph.cost import TooComplex
    from graphql import parse

    try:
        check_cost(graphql_schema(schema), parse(query), None, variables, max_objects)
    except TooComplex:
        return False
    return True


# Every list of objects below the root, with what it lists.
NESTED = {
    "trainingResults": "{ models(limit: 100) { trainingResults(limit: %s) { trainingId } } }",
    "Model.revisions": "{ models(limit: 100) { revisions(limit: %s) { id } } }",
    "TrainingResult.revisions": ("{ trainingResults(limit: 100) { revisions(limit: %s) { id } } }"),
    "Strategy.revisions": "{ strategies(limit: 100) { revisions(limit: %s) { id } } }",
    "Transformation.revisions": "{ transformations(limit: 100) { revisions(limit: %s) { id } } }",
    "Service.revisions": "{ services(limit: 100) { revisions(limit: %s) { id } } }",
    "Inferencer.revisions": "{ inferencers(limit: 100) { revisions(limit: %s) { id } } }",
}


@pytest.mark.parametrize("field", list(NESTED))
def test_the_estimate_counts_a_nested_list_at_its_limit(field):
    query = NESTED[field]
    assert not estimate_passes(query % 1000)  # 100 + 100,000
    assert estimate_passes(query % 40)  # 100 + 4,000
    assert not estimate_passes(query % 50)  # 100 + 5,000
    # No limit given: the default page of 20 (100 + 2,000), not a guess below it.
    no_limit = query.replace("(limit: %s)", "")
    assert estimate_passes(no_limit) and not estimate_passes(no_limit, max_objects=2099)
    # A limit from a variable, or from the variable's default when none is sent.
    variable = "query($n: Int = 1000) " + query % "$n"
    assert not estimate_passes(variable)
    assert estimate_passes(variable, n=10)


def test_every_nested_object_list_takes_a_limit():
    """Fail closed: a list of objects below the root without a limit would be unbounded."""
    from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType

    built = graphql_schema(schema)
    roots = {built.query_type, built.mutation_type, built.subscription_type}
    for named in built.type_map.values():
        if not isinstance(named, GraphQLObjectType) or named in roots:
            continue
        if named.name.startswith("__") or named.name in ("ApiToken", "CreatedToken"):
            continue
        for name, field in named.fields.items():
            kind = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
            if named.name.endswith("Connection") and name == "edges":
                continue  # a connection's page, bounded by its `first` (checked below)
            if isinstance(kind, GraphQLList):
                inner = kind.of_type
                inner = inner.of_type if isinstance(inner, GraphQLNonNull) else inner
                if isinstance(inner, GraphQLObjectType):
                    assert "limit" in field.args, (named.name, name)
    for named in built.type_map.values():
        if isinstance(named, GraphQLObjectType) and not named.name.startswith("__"):
            for name, field in named.fields.items():
                kind = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
                if getattr(kind, "name", "").endswith("Connection"):
                    assert "first" in field.args, (named.name, name)


class Finds(monitoring.CommandListener):
    """The replies' documents counted, per collection read."""

    def __init__(self) -> None:
        self.returned = 0
        self.database = ""

    def started(self, event):
        pass

    def succeeded(self, event):
        if event.database_name != self.database:
            return
        cursor = event.reply.get("cursor") or {}
        self.returned += len(cursor.get("firstBatch", ())) + len(cursor.get("nextBatch", ()))

    def failed(self, event):
        pass


async def test_the_loader_reads_a_page_per_parent_not_every_result(settings, db, mongodb_url):
    from helpers import running_app

    await db.models.insert_many([{"model_name": f"m{i}", "model_version": "1"} for i in range(3)])
    await db.results.insert_many(
        [
            {"model_name": f"m{i}", "model_version": "1", "training_id": f"t{n:04}"}
            for i in range(3)
            for n in range(1500)
        ]
    )
    finds = Finds()
    finds.database = settings.db_name
    monitoring.register(finds)
    async with running_app(settings, mongodb_url) as client:
        gql = GraphQL(client)
        finds.returned = 0
        data = await gql.data(
            "{ models { modelName trainingResults(limit: 5, offset: 10) { trainingId } } }"
        )
        assert [[r["trainingId"] for r in m["trainingResults"]] for m in data["models"]] == [
            [f"t{n:04}" for n in range(10, 15)]
        ] * 3
        # 3 models and 3 pages of 5: nowhere near the 4,500 results stored.
        assert finds.returned <= 3 + 15 + 5, finds.returned
        default = await gql.data(
            '{ model(modelName: "m0", modelVersion: "1") { trainingResults { trainingId } } }'
        )
        assert len(default["model"]["trainingResults"]) == 20
        refused = await gql.error(
            '{ model(modelName: "m0", modelVersion: "1") { trainingResults(limit: 1001) '
            "{ trainingId } } }"
        )
        assert refused["extensions"]["code"] in ("BAD_USER_INPUT", "QUERY_TOO_COMPLEX")
        negative = await gql.error(
            '{ model(modelName: "m0", modelVersion: "1") { trainingResults(offset: -1) '
            "{ trainingId } } }"
        )
        assert negative["extensions"]["code"] == "BAD_USER_INPUT"
