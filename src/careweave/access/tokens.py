"""API bearer tokens: issued once, stored only as a hash, looked up on every API request.

A token is 32 random bytes (256 bits, URL-safe base64). careweave keeps only its SHA-256: a
copy of the `api_token` table, a backup or a query log gives nobody a working token, and a
fast hash is enough because the token is random, not a password someone chose.

A token belongs either to a user (it acts as them, capped by its scopes: it never grants more
than their role and relationships allow) or to a system client, an integration acting for an
organisation, or for the whole platform when it names none. The scopes' context must suit who
holds them: patient/ for a person or their carer, user/ for staff, system/ for a client.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import namedtuple
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, select, update

from careweave.access.accounts import (
    USER_COLUMNS,
    AccountError,
    UserAccount,
    check_references,
    get_user,
    principal_for_user,
    user_from_row,
)
from careweave.access.principal import Principal
from careweave.access.roles import Role
from careweave.access.scopes import Scopes
from careweave.store.access_tables import api_token, user_account
from careweave.store.database import Database, PointQuery, as_utc, stored_time

if TYPE_CHECKING:
    from careweave.store.repository import FhirStore

DEFAULT_LIFETIME = timedelta(hours=12)
"""A working day and a bit: long enough for a shift, short enough that a token left in a
script or a shell history stops working by tomorrow."""
SYSTEM_CLIENT_PREFIX = "client:"
TOKEN_PREFIX = "cw_"  # noqa: S105 (a public marker at the front of every token, not a secret)
"""Every token careweave issues begins with this. Without it one in 64 tokens began with "-",
which a command line reads as an option (`careweave token revoke -Xy...` failed), and a fixed
prefix lets secret scanners recognise a careweave token pasted where it should not be."""
# The prefix and token_urlsafe(32) are 46 characters; anything much longer is not one of ours.
_MAX_TOKEN_LENGTH = 128


class TokenError(ValueError):
    """A token that cannot be issued as asked; the message says why."""


@dataclass(frozen=True)
class IssuedToken:
    """A token just issued. `token` exists only here: show it once, then forget it."""

    token: str = field(repr=False)
    client_name: str
    username: str | None
    scopes: Scopes
    organisation_id: str | None
    expires: datetime | None  # aware UTC; None: until revoked


def _now() -> datetime:
    return datetime.now(UTC)


def token_hash(token: str) -> str:
    """What the table keeps for a token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def suitable_contexts(role: Role | None) -> frozenset[str]:
    """The scope contexts someone in `role` may hold (None: a system client, no user)."""
    if role is None or role is Role.SYSTEM:
        return frozenset({"system"})
    if role in (Role.PATIENT, Role.CARER):
        return frozenset({"patient"})
    return frozenset({"user"})


def check_scopes_suit(scopes: Scopes, user: UserAccount | None) -> None:
    """TokenError unless every scope's context suits the holder."""
    allowed = suitable_contexts(user.role if user else None)
    unsuitable = [str(scope) for scope in scopes.granted if scope.context not in allowed]
    if not unsuitable:
        return
    wanted = next(iter(allowed))
    holder = (
        f"'{user.username}' ({user.role.value})"
        if user
        else "a system client (a token with no user)"
    )
    raise TokenError(
        f"{', '.join(unsuitable)} cannot be issued to {holder}: use {wanted}/ scopes, "
        f"e.g. {wanted}/*.rs"
    )


def issue_token(
    database: Database,
    scopes: Scopes,
    *,
    username: str | None = None,
    client_name: str,
    organisation_id: str | None = None,
    lifetime: timedelta | None = DEFAULT_LIFETIME,
    store: FhirStore | None = None,
) -> IssuedToken:
    """A new token; TokenError (nothing written) when it cannot be issued.

    A user's token acts for the user's own organisation (`organisation_id` may repeat it but
    not name another). A system token acts for `organisation_id`, or for the whole platform
    when it is None; with `store`, the organisation must exist there. `lifetime` None means the
    token lasts until revoked (for integrations that rotate their tokens themselves).
    """
    client = " ".join(client_name.split())
    # "client:<name>" is the audit trail's username for a system client: it must fit its 64.
    if not client or len(client) > 56:
        raise TokenError("Name the client the token is for (1-56 characters)")
    if lifetime is not None and lifetime <= timedelta(0):
        raise TokenError("A token's lifetime must be positive")
    user: UserAccount | None = None
    if username is not None:
        user = get_user(database, username)
        if user is None:
            raise TokenError(f"There is no account called '{username}'")
        if user.disabled:
            raise TokenError(f"The account '{user.username}' is disabled")
        if organisation_id is not None and organisation_id != user.organisation_id:
            raise TokenError(
                f"'{user.username}' acts for {user.organisation_id or 'no organisation'}, "
                f"not {organisation_id}: a user's token acts where its user does"
            )
        organisation_id = user.organisation_id
    elif organisation_id is not None and store is not None:
        try:
            check_references(store, organisation_id=organisation_id)
        except AccountError as exc:
            raise TokenError(str(exc)) from None
    check_scopes_suit(scopes, user)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    created = _now()
    expires = created + lifetime if lifetime is not None else None
    with database.write() as conn:
        conn.execute(
            api_token.insert().values(
                token_hash=token_hash(token),
                user_pk=user.pk if user else None,
                client_name=client,
                scopes=str(scopes),
                organisation_id=organisation_id,
                created=stored_time(created),
                expires=stored_time(expires) if expires else None,
                revoked=None,
            )
        )
    return IssuedToken(
        token=token,
        client_name=client,
        username=user.username if user else None,
        scopes=scopes,
        organisation_id=organisation_id,
        expires=expires,
    )


# One round trip per API request: the token and its user (if any) together. Token columns are
# suffixed with "_" so they do not collide with the account's (organisation_id, created).
_TOKEN_LOOKUP = (
    select(
        *(column.label(f"{column.name}_") for column in api_token.c),
        *USER_COLUMNS,
    )
    .select_from(api_token.outerjoin(user_account, api_token.c.user_pk == user_account.c.pk))
    .where(api_token.c.token_hash == bindparam("wanted"))
)
# Every API request runs it, so it runs as a point query on the driver's own connection: through
# a SQLAlchemy Connection the pool events, statement cache and result rows cost more than the
# indexed lookup. Values come back as the driver gives them; the checks below and
# `user_from_row` read them with `as_utc` and `bool`, which accept either driver's form.
_TOKEN_POINT = PointQuery(_TOKEN_LOOKUP)
_TokenRow = namedtuple("_TokenRow", [column.name for column in _TOKEN_LOOKUP.selected_columns])  # type: ignore[misc]


def principal_for_token(
    database: Database, token: str, address: str | None = None
) -> Principal | None:
    """Who a bearer token acts for, or None when it is unknown, expired or revoked, or its
    user is disabled or locked out (a locked account may be under attack: its tokens pause
    with it)."""
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        return None
    wanted = token_hash(token)
    found = _TOKEN_POINT.fetch_one(database, wanted=wanted)
    row: Any = None if found is None else _TokenRow(*found)
    # The lookup is by hash already; comparing again in constant time costs nothing and keeps
    # the check independent of how the database compares strings.
    if row is None or not hmac.compare_digest(str(row.token_hash_), wanted):
        return None
    now = _now()
    if row.revoked_ is not None:
        return None
    if row.expires_ is not None and as_utc(row.expires_) <= now:
        return None
    scopes = Scopes.parse(row.scopes_)
    if row.user_pk_ is None:
        return Principal(
            username=f"{SYSTEM_CLIENT_PREFIX}{row.client_name_}",
            display_name=row.client_name_,
            role=Role.SYSTEM,
            scopes=scopes,
            organisation_id=row.organisation_id_,
            address=address,
        )
    if row.pk is None:  # pragma: no cover - the foreign key keeps the account
        return None
    user = user_from_row(row)
    if user.disabled or user.locked_at(now):
        return None
    return principal_for_user(user, scopes, address)


def revoke_token(database: Database, token: str) -> bool:
    """Stop a token working, at once; True when it was live. The row stays (the audit trail
    can still say which client a past request came from)."""
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        return False
    with database.write() as conn:
        result = conn.execute(
            update(api_token)
            .where(api_token.c.token_hash == token_hash(token), api_token.c.revoked.is_(None))
            .values(revoked=stored_time(_now()))
        )
    return bool(result.rowcount)
