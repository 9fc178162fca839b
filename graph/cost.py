"""GraphQL cost limits: size, tokens, aliases, depth and an estimate of the objects returned.

All are checked before a query runs. Tokens, aliases and depth are Strawberry's own limiters;
the object estimate is ours. It multiplies, down each path of the query, the page size of
every list field, root or nested: its `limit` argument (a literal or a variable), else the
argument's default (100 for root lists, 20 for nested ones), and DEFAULT_PAGE for a list
that takes no limit.
A connection counts `first` items; its `edges` list is that page, not one more factor.
"""

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLArgument,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    NullValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    build_schema,
    value_from_ast_untyped,
)
from strawberry.extensions import (
    MaxAliasesLimiter,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.base import BaseSchema

DEFAULT_PAGE = 100
INTROSPECTION_DEPTH = 15  # GraphiQL's schema query nests about 13 deep
WALK_BUDGET = 20_000  # selections visited; fragments spread in fragments can multiply them
CODE = "QUERY_TOO_COMPLEX"


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 100_000
    max_tokens: int = 2_000
    max_aliases: int = 30
    max_depth: int = 10
    max_objects: int = 5_000


class TooComplex(Exception):
    """The walk stopped: a limit was passed (the message says which)."""


class _Walk:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
        max_objects: int,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.max_objects = max_objects
        self.objects = 0
        self.steps = 0

    def step(self) -> None:
        self.steps += 1
        if self.steps > WALK_BUDGET:
            raise TooComplex("The query has too many selections once its fragments are spread")

    def selections(
        self,
        selection_set: SelectionSetNode | None,
        parent: Any,
        many: int,
        spread: tuple[str, ...],
    ) -> None:
        if selection_set is None:
            return
        for node in selection_set.selections:
            self.step()
            if isinstance(node, FieldNode):
                self.field(node, parent, many, spread)
            elif isinstance(node, InlineFragmentNode):
                condition = node.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                self.selections(node.selection_set, target, many, spread)
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in spread:  # other rules report these
                    continue
                target = self.schema.get_type(fragment.type_condition.name.value)
                self.selections(fragment.selection_set, target, many, (*spread, name))

    def field(self, node: FieldNode, parent: Any, many: int, spread: tuple[str, ...]) -> None:
        name = node.name.value
        if name.startswith("__"):
            if name != "__typename":
                self.introspection(node.selection_set, 1, spread)
            return
        if node.selection_set is None:
            return  # a leaf: no object
        definition = parent.fields.get(name) if isinstance(parent, GraphQLObjectType) else None
        if definition is None:  # unknown fields are reported by validation
            return
        kind = definition.type
        if isinstance(kind, GraphQLNonNull):
            kind = kind.of_type
        if isinstance(kind, GraphQLList):
            many *= self.page(node, definition.args, parent)
            kind = kind.of_type
            if isinstance(kind, GraphQLNonNull):
                kind = kind.of_type
        elif "first" in definition.args:  # a connection: its page is the edges' count
            many *= self.page(node, definition.args, parent)
            if isinstance(kind, GraphQLObjectType):
                self.selections(node.selection_set, kind, many, spread)
            return
        if not isinstance(kind, GraphQLObjectType):
            return
        self.objects += many
        if self.objects > self.max_objects:
            raise TooComplex(
                f"The query may return more than {self.max_objects} objects; "
                "ask for smaller pages or fewer nested lists"
            )
        self.selections(node.selection_set, kind, many, spread)

    def page(self, node: FieldNode, args: dict[str, Any], parent: Any) -> int:
        """How many items a list field (or a connection, by `first`) may return: the number
        given, else the argument's default."""
        name = "limit" if "limit" in args else "first" if "first" in args else None
        if name is None:
            if isinstance(parent, GraphQLObjectType) and parent.name.endswith("Connection"):
                return 1  # a connection's edges: counted by its `first`
            return DEFAULT_PAGE
        default = _default(args[name])
        for argument in node.arguments or ():
            if argument.name.value != name:
                continue
            value = argument.value
            if isinstance(value, VariableNode):
                given = self.variables.get(value.name.value)
                return given if isinstance(given, int) and given >= 0 else default
            if isinstance(value, IntValueNode):
                return max(0, int(value.value))
            if isinstance(value, NullValueNode):
                return default
        return default

    def introspection(
        self, selection_set: SelectionSetNode | None, depth: int, spread: tuple[str, ...]
    ) -> None:
        """Schema queries return no stored objects, and the depth limiter passes them over;
        only their nesting is bounded (each level can multiply what they return)."""
        if selection_set is None:
            return
        if depth > INTROSPECTION_DEPTH:
            raise TooComplex(f"The schema query nests deeper than {INTROSPECTION_DEPTH} levels")
        for node in _flatten(selection_set, self.fragments, spread):
            self.step()
            self.introspection(node.selection_set, depth + 1, spread)


def _default(argument: GraphQLArgument | None) -> int:
    """An argument's default as the schema declares it (graphql-core 3.3 keeps it as the
    SDL's literal), if a whole number; else DEFAULT_PAGE."""
    if argument is None:
        return DEFAULT_PAGE
    default = argument.default_value
    node = argument.ast_node
    if not isinstance(default, int) and node is not None and node.default_value is not None:
        default = value_from_ast_untyped(node.default_value)
    if not isinstance(default, int) or isinstance(default, bool) or default < 0:
        return DEFAULT_PAGE
    return default


def _flatten(
    selection_set: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    spread: tuple[str, ...],
) -> Iterator[FieldNode]:
    for node in selection_set.selections:
        if isinstance(node, FieldNode):
            yield node
        elif isinstance(node, InlineFragmentNode):
            yield from _flatten(node.selection_set, fragments, spread)
        elif isinstance(node, FragmentSpreadNode):
            name = node.name.value
            if name in fragments and name not in spread:
                yield from _flatten(fragments[name].selection_set, fragments, (*spread, name))


def check_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any],
    max_objects: int,
) -> None:
    """TooComplex if the operation to run may return more than `max_objects` objects."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    walk = _Walk(schema, fragments, variables, max_objects)
    for operation in operations:
        if operation_name is not None and (
            operation.name is None or operation.name.value != operation_name
        ):
            continue
        # A variable not sent takes its default from the operation, as execution does.
        defaults = {
            definition.variable.name.value: value_from_ast_untyped(definition.default_value)
            for definition in operation.variable_definitions or ()
            if definition.default_value is not None
        }
        walk.variables = {**defaults, **variables}
        root = schema.get_root_type(operation.operation)
        walk.selections(operation.selection_set, root, 1, ())


@functools.lru_cache(maxsize=4)
def graphql_schema(schema: BaseSchema) -> GraphQLSchema:
    """The schema's types as graphql-core holds them, built once from its SDL."""
    return build_schema(schema.as_str())


class QueryLimits(ValidationCache):
    """Validation (cached, as Strawberry's ValidationCache does) with the limits' rules, and
    then, for a valid document, the object estimate: queries over `limits` are refused before
    they run. The token, depth and alias limits are Strawberry's (their rules, reused as they
    are); the object estimate is coded QUERY_TOO_COMPLEX.

    One extension rather than one per limit and one for the cache: Strawberry enters every
    extension's hooks on every request.
    """

    def __init__(self, limits: Limits, rules: tuple[type[ASTValidationRule], ...]) -> None:
        super().__init__(maxsize=256)
        self.limits = limits
        self.rules = rules

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = self.limits.max_tokens
        context.validation_rules = (*context.validation_rules, *self.rules)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        # ValidationCache's own step, then the estimate: both before the yield, since Strawberry
        # reads the errors inside the validation step
        context.pre_execution_errors = self.cached_validate_document(
            context.schema._schema, context.graphql_document, context.validation_rules
        )
        if context.graphql_document is not None and not context.pre_execution_errors:
            try:
                check_cost(
                    graphql_schema(context.schema),
                    context.graphql_document,
                    context.operation_name,
                    context.variables or {},
                    self.limits.max_objects,
                )
            except TooComplex as exc:
                context.pre_execution_errors = [GraphQLError(str(exc), extensions={"code": CODE})]
        yield


def query_limits(limits: Limits) -> Callable[[], SchemaExtension]:
    """A factory of QueryLimits. The rules are made once, so that they stay the same classes
    and ValidationCache (keyed by the rules) finds the documents it validated."""
    depth = QueryDepthLimiter(max_depth=limits.max_depth).validation_rules
    aliases = MaxAliasesLimiter(max_alias_count=limits.max_aliases).validation_rules
    rules = (*depth, *aliases)
    return functools.partial(QueryLimits, limits, rules)
