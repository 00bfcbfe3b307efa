"""Query cost: each field costs 1, and a field that returns a page multiplies what it selects by the
page size it asks for. Documents above the budget are refused before anything runs."""

from __future__ import annotations

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
)
from graphql.language import IntValueNode, VariableNode

from aim_identity.schema.core.pagination import MAX_PAGE

PAGE_ARGUMENTS = ("first", "last")


def cost_limit(budget: int) -> type[ValidationRule]:
    class QueryCost(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_args) -> None:
            fragments = {
                f.name.value: f for f in self.context.document.definitions if isinstance(f, FragmentDefinitionNode)
            }
            cost = _cost(node.selection_set, fragments, set())
            if cost > budget:
                self.report_error(
                    GraphQLError(
                        f"The query cost {cost} is over the limit of {budget}",
                        node,
                        extensions={"code": "QUERY_TOO_COMPLEX", "cost": cost, "limit": budget},
                    )
                )

    return QueryCost


def _page_size(field: FieldNode) -> int:
    for argument in field.arguments or ():
        if argument.name.value in PAGE_ARGUMENTS:
            if isinstance(argument.value, IntValueNode):
                return max(1, min(int(argument.value.value), MAX_PAGE))
            if isinstance(argument.value, VariableNode):
                return MAX_PAGE  # unknown until run time: assume the worst
    return 1


def _cost(selection_set: SelectionSetNode | None, fragments: dict, seen: set[str]) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            inner = _cost(selection.selection_set, fragments, seen)
            total += 1 + _page_size(selection) * inner if inner else 1
        elif isinstance(selection, InlineFragmentNode):
            total += _cost(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                total += _cost(fragment.selection_set, fragments, seen | {selection.name.value})
    return total
