"""Query cost: what a request may cost, from the document and the schema before anything runs (the
requested cost), and what it did cost, from its answer (the actual cost).

Every field weighs 1, and a root field may weigh more (ROOT_WEIGHTS): a mutation 10, a field that
reads or writes much more than it returns more again. A field that returns a list multiplies the cost
of what it selects by the most items it can return:
- a connection's `edges` (of a `...Connection` type; its `totalCount` and `pageInfo` are
  one each) by its page: `first` or `last`, the page served when it names
  neither (DEFAULT_PAGE), and the largest page (MAX_PAGE) when the size comes from a variable;
- a list with a `first` argument of its own (`trustHistory`) by that argument, its default when absent,
  at most the field's own maximum (LIST_MAXIMA);
- any other list by UNPAGED_LIST, since it returns all it holds.
A selection on an abstract type counts every fragment under it. The actual cost counts the same
weights over the items the answer holds: a page of 3 agents costs its fields 3 times, not 20."""

from __future__ import annotations

from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from graphql.language import IntValueNode
from graphql.type import GraphQLNamedType, GraphQLOutputType

from aim_identity.schema.core.pagination import DEFAULT_PAGE, MAX_PAGE

PAGE_ARGUMENTS = ("first", "last")
MUTATION_WEIGHT = 10
# Root fields that cost more than they return: a check of the whole audit chain, exports that read a
# whole log or an organization's every grant, a discovery that calls out to a server.
ROOT_WEIGHTS = {
    ("Query", "verifyAuditChain"): 200,
    ("Query", "securityMetrics"): 20,
    ("Mutation", "exportAuditLogs"): 100,
    ("Mutation", "exportAccessReview"): 100,
    ("Mutation", "exportSubjectData"): 100,
    ("Mutation", "discoverMCPServer"): 50,
}
# Lists that take a size of their own, and the most items each returns (its resolver enforces it too).
LIST_MAXIMA = {("Agent", "trustHistory"): 500}
UNPAGED_LIST = 20


def requested_cost(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode) -> int:
    root = schema.get_root_type(operation.operation)
    return _cost(schema, operation.selection_set, root, _fragments(document), frozenset()) if root else 0


def actual_cost(
    schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, data: dict[str, Any] | None
) -> int:
    """The cost of the answer `data`: each field in it at its weight, each item of a list at what it selects."""
    root = schema.get_root_type(operation.operation)
    if not data or root is None:
        return 0
    fragments = _fragments(document)
    return sum(
        _weight(root.name, name) + _spent(_plan(sets, fragments), data[key])
        for key, (name, sets) in _by_response_key(operation.selection_set, fragments).items()
        if key in data
    )


# What an answer's value holds below a field: the response keys it may have, each with its own plan.
Plan = dict[str, "Plan"]


def _weight(parent: str, field: str) -> int:
    default = MUTATION_WEIGHT if parent == "Mutation" else 1
    return ROOT_WEIGHTS.get((parent, field), default)


def _fragments(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def _plan(sets: list[SelectionSetNode], fragments: dict[str, FragmentDefinitionNode]) -> Plan:
    """The selections `sets` of one field, merged by response key once, however many items it returns."""
    merged: dict[str, list[SelectionSetNode]] = {}
    for selection_set in sets:
        for key, (_name, inner) in _by_response_key(selection_set, fragments).items():
            merged.setdefault(key, []).extend(inner)
    return {key: _plan(inner, fragments) for key, inner in merged.items()}


def _spent(plan: Plan, value: Any) -> int:
    """What a field's selections cost over its value: nothing for a leaf or a null, each item for a list."""
    if isinstance(value, list):
        return sum(_spent(plan, item) for item in value)
    if not isinstance(value, dict):
        return 0
    total = 0
    for key, inner in plan.items():
        if key in value:
            total += 1 + (_spent(inner, value[key]) if inner else 0)  # most fields are leaves
    return total


def _by_response_key(
    selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode], seen: frozenset[str] = frozenset()
) -> dict[str, tuple[str, list[SelectionSetNode]]]:
    """The fields a selection asks for, by the key each has in the answer (its alias or its name), with
    every fragment spread into it: an answer holds only the fragments that applied to its type."""
    fields: dict[str, tuple[str, list[SelectionSetNode]]] = {}
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            key = (selection.alias or selection.name).value
            _name, sets = fields.setdefault(key, (selection.name.value, []))
            if selection.selection_set is not None:
                sets.append(selection.selection_set)
            continue
        if isinstance(selection, InlineFragmentNode):
            inner = _by_response_key(selection.selection_set, fragments, seen)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
            fragment = fragments.get(selection.name.value)
            if fragment is None:
                continue
            inner = _by_response_key(fragment.selection_set, fragments, seen | {selection.name.value})
        else:
            continue
        for key, (name, sets) in inner.items():
            fields.setdefault(key, (name, []))[1].extend(sets)
    return fields


def _cost(
    schema: GraphQLSchema,
    selection_set: SelectionSetNode | None,
    parent: GraphQLNamedType | None,
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str],
    page: int = 1,
) -> int:
    """What a selection on `parent` costs; `page`: the items of the connection `parent` is, if it is one."""
    if selection_set is None or parent is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            total += _field_cost(schema, selection, parent, fragments, seen, page)
        elif isinstance(selection, InlineFragmentNode):
            on = schema.get_type(selection.type_condition.name.value) if selection.type_condition else parent
            total += _cost(schema, selection.selection_set, on, fragments, seen, page if on is parent else 1)
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                on = schema.get_type(fragment.type_condition.name.value)
                inner_page = page if on is parent else 1
                total += _cost(schema, fragment.selection_set, on, fragments, seen | {selection.name.value}, inner_page)
    return total


def _field_cost(
    schema: GraphQLSchema,
    node: FieldNode,
    parent: GraphQLNamedType,
    fragments: dict[str, FragmentDefinitionNode],
    seen: frozenset[str],
    page: int,
) -> int:
    fields = getattr(parent, "fields", {})
    definition = fields.get(node.name.value)
    if definition is None:  # __typename, or a field validation reports on its own
        return 1
    weight = _weight(parent.name, node.name.value)
    named, is_list = _unwrap(definition.type)
    asked = {a.name.value: a.value for a in node.arguments or ()}
    if _is_connection(named):  # its edges are its page; its count and page info are one each
        return weight + _cost(schema, node.selection_set, named, fragments, seen, _page(asked))
    inner = _cost(schema, node.selection_set, named, fragments, seen)
    if not is_list:
        return weight + inner
    if _is_connection(parent):
        return weight + page * inner
    return weight + _list_items(parent, node, asked, definition.args) * inner


def _unwrap(type_: GraphQLOutputType) -> tuple[GraphQLNamedType, bool]:
    is_list = False
    while isinstance(type_, GraphQLNonNull | GraphQLList):
        is_list = is_list or isinstance(type_, GraphQLList)
        type_ = type_.of_type
    return type_, is_list


def _page(asked: dict[str, Any]) -> int:
    for name in PAGE_ARGUMENTS:
        if name in asked:
            return _size(asked[name], MAX_PAGE)
    return DEFAULT_PAGE


def _list_items(parent: GraphQLNamedType, node: FieldNode, asked: dict[str, Any], args: dict[str, Any]) -> int:
    """The most items a list that is not a connection's page returns."""
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
