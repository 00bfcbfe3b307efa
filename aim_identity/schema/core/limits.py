"""Query cost, computed from the document and the schema before anything runs.

Every field costs 1, and a field that returns a list multiplies the cost of what it selects by the
most items it can return:
- a connection (a `...Connection` type) by its page: `first` or `last`, the page served when it names
  neither (DEFAULT_PAGE), and the largest page (MAX_PAGE) when the size comes from a variable;
- a list with a `first` argument of its own (`trustHistory`) by that argument, its default when absent,
  at most the field's own maximum (LIST_MAXIMA);
- any other list by UNPAGED_LIST, since it returns all it holds.
A selection on an abstract type counts every fragment under it. Documents over the budget are
refused, with the computed cost, before anything runs."""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationRule,
)
from graphql.language import IntValueNode
from graphql.type import GraphQLNamedType, GraphQLOutputType

from aim_identity.schema.core.pagination import DEFAULT_PAGE, MAX_PAGE

PAGE_ARGUMENTS = ("first", "last")
# Lists that take a size of their own, and the most items each returns (its resolver enforces it too).
LIST_MAXIMA = {("Agent", "trustHistory"): 500}
UNPAGED_LIST = 20


def cost_limit(budget: int) -> type[ValidationRule]:
    class QueryCost(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
            cost = operation_cost(self.context.schema, self.context.document.definitions, node)
            if cost > budget:
                self.report_error(
                    GraphQLError(
                        f"The query cost {cost} is over the limit of {budget}",
                        node,
                        extensions={"code": "QUERY_TOO_COMPLEX", "cost": cost, "limit": budget},
                    )
                )

    return QueryCost


def operation_cost(schema: GraphQLSchema, definitions: Any, operation: OperationDefinitionNode) -> int:
    fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
    root = {
        OperationType.QUERY: schema.query_type,
        OperationType.MUTATION: schema.mutation_type,
        OperationType.SUBSCRIPTION: schema.subscription_type,
    }[operation.operation]
    return _cost(schema, operation.selection_set, root, fragments, frozenset()) if root else 0


def _cost(
    schema: GraphQLSchema,
    selection_set: SelectionSetNode | None,
    parent: GraphQLNamedType | None,
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str],
) -> int:
    if selection_set is None or parent is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            total += _field_cost(schema, selection, parent, fragments, seen)
        elif isinstance(selection, InlineFragmentNode):
            on = schema.get_type(selection.type_condition.name.value) if selection.type_condition else parent
            total += _cost(schema, selection.selection_set, on, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                on = schema.get_type(fragment.type_condition.name.value)
                total += _cost(schema, fragment.selection_set, on, fragments, seen | {selection.name.value})
    return total


def _field_cost(
    schema: GraphQLSchema,
    node: FieldNode,
    parent: GraphQLNamedType,
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str],
) -> int:
    fields = getattr(parent, "fields", {})
    definition = fields.get(node.name.value)
    if definition is None:  # __typename, or a field validation reports on its own
        return 1
    named, is_list = _unwrap(definition.type)
    inner = _cost(schema, node.selection_set, named, fragments, seen)
    if not inner:
        return 1
    return 1 + _items(node, parent, named, is_list, definition.args) * inner


def _unwrap(type_: GraphQLOutputType) -> tuple[GraphQLNamedType, bool]:
    is_list = False
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        is_list = is_list or isinstance(type_, GraphQLList)
        type_ = type_.of_type
    return type_, is_list


def _items(
    node: FieldNode, parent: GraphQLNamedType, named: GraphQLNamedType, is_list: bool, args: dict[str, Any]
) -> int:
    """The most items a field's selection is resolved for."""
    asked = {a.name.value: a.value for a in node.arguments or ()}
    if _is_connection(named):
        for name in PAGE_ARGUMENTS:
            if name in asked:
                return _size(asked[name], MAX_PAGE)
        return DEFAULT_PAGE
    if not is_list or _is_connection(parent):  # a connection's edges are its page, counted already
        return 1
    maximum = LIST_MAXIMA.get((parent.name, node.name.value))
    if maximum is None:
        return UNPAGED_LIST
    if "first" in asked:
        return _size(asked["first"], maximum)
    default = args["first"].default_value if "first" in args else None
    return min(default, maximum) if isinstance(default, int) else maximum


def _is_connection(type_: GraphQLNamedType) -> bool:
    return isinstance(type_, GraphQLObjectType) and type_.name.endswith("Connection")


def _size(value: Any, maximum: int) -> int:
    """A literal size, within the maximum; one from a variable is unknown until run time: the maximum."""
    return max(1, min(int(value.value), maximum)) if isinstance(value, IntValueNode) else maximum
