"""Reports each executed query or mutation's root fields to whoever counts them."""

from collections.abc import Callable

from graphql import DocumentNode, FieldNode, GraphQLError, OperationDefinitionNode
from strawberry.types import ExecutionContext

REFUSED = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403}  # error codes of a refused access


def _refusal(error: GraphQLError) -> int | None:
    """401 or 403 if `error` refused access (its code may be set only after this reports)."""
    status = getattr(error.original_error, "status", None)
    code = (error.extensions or {}).get("code", "")
    return status if status in (401, 403) else REFUSED.get(code)


def report_operation(execution: ExecutionContext) -> None:
    """Call `context.report(type, field, ok)` for each root field of an executed operation.

    Labels are schema field names (validation has rejected anything else), never client-chosen
    operation names, so that they stay a small, fixed set.
    """
    report = getattr(execution.context, "report", None)
    document = execution.graphql_document
    if report is None or document is None:
        return
    operation_type = execution.operation_type.value
    if operation_type == "subscription":
        return
    errors = (execution.result.errors if execution.result else None) or []
    ok = not errors
    refused = getattr(execution.context, "refused", None)
    codes = [_refusal(error) for error in errors]
    if operation_type == "mutation" and refused is not None and any(codes):
        refused(max(code for code in codes if code))
    report_fields(report, operation_type, document, execution.operation_name, ok)


def report_fields(
    report: Callable[[str, str, bool], None],
    operation_type: str,
    document: DocumentNode,
    operation_name: str | None,
    ok: bool,
) -> None:
    """`report(type, field, ok)` for each root field of the operation that ran."""
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            operation_name is None or (definition.name and definition.name.value == operation_name)
        ):
            for selection in definition.selection_set.selections:
                field = selection.name.value if isinstance(selection, FieldNode) else "fragment"
                report(operation_type, field, ok)
            return
