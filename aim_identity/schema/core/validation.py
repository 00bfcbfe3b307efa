"""Validating a document, cached per document: first production's limits, alone, so a document past
one gets that one error rather than a hundred others found on the way; then graphql-core's rules and
Strawberry's own, and production's refusal of introspection.

In production no error suggests a name ("Did you mean 'agents'?"): with introspection off,
suggestions would hand out the schema one typo at a time. graphql-core can leave them out of
validation and of execution (variables, enum values); `Validation` and `Unsuggesting` ask it to."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, specified_rules, validate
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

KEPT = 1024

Validator = Callable[[GraphQLSchema, DocumentNode], list[GraphQLError]]


def validator(
    *,
    limits: Sequence[type[ASTValidationRule]] = (),
    extra: Sequence[type[ASTValidationRule]] = (),
    hide_suggestions: bool = False,
) -> Validator:
    rules = (*specified_rules, MaybeNullValidationRule, OneOfInputValidationRule, *extra)

    @functools.lru_cache(maxsize=KEPT)
    def validated(schema: GraphQLSchema, document: DocumentNode) -> list[GraphQLError]:
        if limits and (errors := validate(schema, document, limits)):
            return errors
        return validate(schema, document, rules, hide_suggestions=hide_suggestions)

    return validated


class Validation(SchemaExtension):
    """Strawberry's validation step, through a `validator`."""

    def __init__(self, validated: Validator) -> None:
        self.validated = validated

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None
        context.pre_execution_errors = self.validated(context.schema._schema, context.graphql_document)
        yield


class Unsuggesting(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, with no suggestions in the errors of coercing variables."""

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Any:
        return super().build(*args, **{**kwargs, "hide_suggestions": True})
