"""People and organizations: registration, invitations and roles."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from email_validator import EmailNotValidError, validate_email
from slugify import slugify
from tortoise.exceptions import IntegrityError

from aim_identity import ids
from aim_identity.actors import Actor
from aim_identity.audit import chain
from aim_identity.auth import login_guard, registration
from aim_identity.auth.passwords import check_policy, hash_password
from aim_identity.config import Settings
from aim_identity.errors import BadUserInput, Conflict, NotFound
from aim_identity.models import AuthFailure, Organization, RegistrationCode, Role, User
from aim_identity.security import detection
from aim_identity.tenancy import scoped
from aim_identity.unit_of_work import atomic


def normalize_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise BadUserInput(f"Invalid email: {exc}", field="email") from None


def _required(value: str, field: str) -> str:
    value = value.strip()
    if not value or len(value) > 200:
        raise BadUserInput(f"{field} needs 1 to 200 characters", field=field)
    return value


async def sign_up(
    actor: Actor, settings: Settings, email: str, password: str, name: str, organization_name: str, code: str | None
) -> User:
    """A stranger opens an organization, admitted as AIM_REGISTRATION says (registration.py) before any
    password is hashed."""
    email = normalize_email(email)
    check_policy(password, email)
    _required(name, "name"), _required(organization_name, "organizationName")
    await registration.admit(settings, email, code)
    return await register(actor, email, password, name, organization_name)


async def register(actor: Actor, email: str, password: str, name: str, organization_name: str) -> User:
    """An organization and its first administrator (a sign-up, or `aimctl create-admin`)."""
    email = normalize_email(email)
    check_policy(password, email)
    name, organization_name = _required(name, "name"), _required(organization_name, "organizationName")
    if await registration.address_taken(email):
        raise Conflict("An account with this email already exists", field="email")
    password_hash = await hash_password(password)
    try:
        # Until the organization exists, every organization's slugs are in play (unit_of_work.py).
        async with atomic(actor.before_organization()) as work:
            slug = slugify(organization_name, max_length=80) or "org"
            if await Organization.exists(slug=slug):
                slug = f"{slug}-{secrets.token_hex(3)}"
            org = await Organization.create(name=organization_name, slug=slug)
            await chain.start(org.id)
            await detection.start(org.id)
            await RegistrationCode.filter(email=email).delete()
            user = await User.create(
                organization=org, email=email, name=name, role=Role.ADMIN, password_hash=password_hash
            )
            await work.act_as(actor.as_user(org.id, user.id))
            work.audit("organization.create", "Organization", ids.encode("Organization", org.id), name=org.name)
            work.audit("auth.register", "User", ids.encode("User", user.id), email=email)
            work.emit("user.created", userId=ids.encode("User", user.id))
    except IntegrityError:
        raise Conflict("An account with this email already exists", field="email") from None
    return user


async def invite(actor: Actor, email: str, name: str, role: Role, password: str) -> User:
    email = normalize_email(email)
    check_policy(password, email)
    name = _required(name, "name")
    if await registration.address_taken(email):
        raise Conflict("An account with this email already exists", field="email")
    password_hash = await hash_password(password)
    try:
        async with atomic(actor) as work:
            user = await User.create(
                organization_id=actor.organization_id, email=email, name=name, role=role, password_hash=password_hash
            )
            work.audit("user.invite", "User", ids.encode("User", user.id), email=email, role=role.value)
            work.emit("user.created", userId=ids.encode("User", user.id))
    except IntegrityError:
        raise Conflict("An account with this email already exists", field="email") from None
    return user


async def update_role(actor: Actor, user_id: uuid.UUID, role: Role) -> User:
    async with atomic(actor) as work:
        assert actor.organization_id is not None
        people = scoped(User, actor.organization_id)
        # The administrators' rows are locked first, always in the same order, then the person's: two
        # demotions at once wait for each other (neither sees the other administrator still there and
        # leaves none), and cannot deadlock.
        admins = {a.id for a in await people.filter(role=Role.ADMIN).order_by("id").select_for_update()}
        user = await people.select_for_update().get_or_none(id=user_id)
        if user is None:
            raise NotFound("No such user")
        if user.role == Role.ADMIN and role != Role.ADMIN and admins == {user.id}:
            raise Conflict("The last administrator cannot be demoted")
        previous, user.role = user.role, role
        await user.save(update_fields=["role"])
        user_gid = ids.encode("User", user.id)
        work.audit("user.role_change", "User", user_gid, previous=previous.value, role=role.value)
        work.emit("user.role_changed", userId=user_gid, role=role.value)
    return user


async def update_organization(
    actor: Actor, acting_user_id: uuid.UUID | None, name: str | None, require_mfa: bool | None
) -> Organization:
    """`acting_user_id`: the person behind the change, who may not require of others an MFA they lack."""
    name = _required(name, "name") if name is not None else None
    async with atomic(actor) as work:
        organization = await Organization.select_for_update().get(id=actor.organization_id)
        changed: dict[str, Any] = {}  # as the audit entry names them
        if name is not None and name != organization.name:
            organization.name = changed["name"] = name
        if require_mfa is not None and require_mfa != organization.require_mfa:
            person = await User.get_or_none(id=acting_user_id) if acting_user_id else None
            if require_mfa and not (person and person.mfa_enabled):
                raise Conflict("Turn MFA on for your own account before requiring it of others", field="requireMfa")
            organization.require_mfa = changed["requireMfa"] = require_mfa
        if changed:
            await organization.save(update_fields=["name", "require_mfa"])
            organization_gid = ids.encode("Organization", organization.id)
            work.audit("organization.update", "Organization", organization_gid, **changed)
            work.emit("organization.updated", organizationId=organization_gid)
    return organization


async def unlock(actor: Actor, email: str) -> int:
    """Forgives an account's failed sign-ins, for an operator at the shell (`aimctl unlock`): the way back
    in for an account without MFA that someone keeps locked out. Returns how many were forgiven."""
    email = normalize_email(email)
    user = await User.get_or_none(email=email)
    if user is None:
        raise NotFound(f"No account for {email}")
    async with atomic(actor.within(user.organization_id)) as work:
        forgiven = await AuthFailure.filter(kind=login_guard.LOGIN, subject=email).delete()
        work.audit("auth.unlock", "User", ids.encode("User", user.id), email=email, forgiven=forgiven)
    return forgiven
