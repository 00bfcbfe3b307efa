"""Production's limits on a document's shape that neither graphql-core nor Strawberry has: the fields
an operation asks for at its root, each a separate piece of work, and the directives on any one
field, fragment spread or inline fragment. (Depth and aliases have Strawberry's limiters; tokens and
size are bounded while parsing, in documents.py.)"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)
from graphql.language import SKIP, Node


def root_field_limit(maximum: int) -> type[ValidationRule]:
    class RootFieldLimit(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> Any:
            count = _fields(node.selection_set, self.context, set())
            if count > maximum:
                self.report_error(_past(f"The operation asks for {count} root fields", maximum, node))
            return SKIP

    return RootFieldLimit


def directive_limit(maximum: int) -> type[ValidationRule]:
    class DirectiveLimit(ValidationRule):
        def enter(self, node: Node, *_: Any) -> None:
            directives = getattr(node, "directives", None) or ()
            if len(directives) > maximum:
                kind = node.kind.replace("_", " ")
                self.report_error(_past(f"A {kind} carries {len(directives)} directives", maximum, node))

    return DirectiveLimit


def _past(what: str, maximum: int, node: Node) -> GraphQLError:
    return GraphQLError(
        f"{what}; the limit is {maximum}", node, extensions={"code": "QUERY_TOO_COMPLEX", "limit": maximum}
    )


def _fields(selection_set: SelectionSetNode, context: ValidationContext, spread: set[str]) -> int:
    """The fields a selection set asks for, through its fragments; a fragment counts once, so a cycle
    (which validation reports on its own) ends."""
    count = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            count += 1
        elif isinstance(selection, InlineFragmentNode):
            count += _fields(selection.selection_set, context, spread)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in spread:
            spread.add(selection.name.value)
            fragment = context.get_fragment(selection.name.value)
            if fragment is not None:
                count += _fields(fragment.selection_set, context, spread)
    return count
