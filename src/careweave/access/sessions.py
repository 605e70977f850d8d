"""Web sessions: what a signed-in browser holds between requests.

The browser keeps a random cookie value; the `user_session` table keeps only its SHA-256, so a
copy of the table (a backup, a log of queries) gives nobody a working session. A session ends
when its user signs out, after IDLE_TIMEOUT without a request, ABSOLUTE_TIMEOUT after sign-in
whatever the activity (a shared ward computer left signed in must not stay open all week), or
as soon as its user is disabled. Each session carries its own CSRF token, which every form the
user submits must echo back.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update

from careweave.store.access_tables import user_account, user_session
from careweave.store.database import Database, as_utc, stored_time

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
# last_seen is rewritten at most this often: a page of reads costs no write per request, and
# the idle timeout is still honoured to within a minute.
LAST_SEEN_STEP = timedelta(minutes=1)
# token_urlsafe(32) gives 43 characters; anything much longer is not one of ours.
_MAX_COOKIE_LENGTH = 128


@dataclass(frozen=True)
class NewSession:
    """A session just started. `cookie_value` exists only here: hand it to the browser."""

    cookie_value: str
    csrf_token: str
    user_pk: int
    created: datetime
    expires: datetime


@dataclass(frozen=True)
class ActiveSession:
    """A live session found from its cookie; times are aware UTC."""

    token_hash: str
    user_pk: int
    csrf_token: str
    created: datetime
    last_seen: datetime
    expires: datetime
    address: str | None


def _now() -> datetime:
    return datetime.now(UTC)


def _token_hash(cookie_value: str) -> str:
    return hashlib.sha256(cookie_value.encode("utf-8")).hexdigest()


def _plausible(cookie_value: str | None) -> bool:
    return bool(cookie_value) and len(cookie_value or "") <= _MAX_COOKIE_LENGTH


def start_session(database: Database, user_pk: int, address: str | None) -> NewSession:
    """A fresh session for `user_pk`; always a new id, so a session id planted in the browser
    before sign-in (session fixation) is never the one that becomes signed in."""
    cookie_value = secrets.token_urlsafe(32)
    csrf_token = secrets.token_urlsafe(32)
    created = _now()
    expires = created + ABSOLUTE_TIMEOUT
    with database.write() as conn:
        conn.execute(
            user_session.insert().values(
                token_hash=_token_hash(cookie_value),
                user_pk=user_pk,
                csrf_token=csrf_token,
                created=stored_time(created),
                last_seen=stored_time(created),
                expires=stored_time(expires),
                address=address[:64] if address else None,
            )
        )
    return NewSession(cookie_value, csrf_token, user_pk, created, expires)


def find_session(database: Database, cookie_value: str | None) -> ActiveSession | None:
    """The live session behind `cookie_value`, or None when there is none to honour.

    None for an unknown value, a session idle longer than IDLE_TIMEOUT, one older than
    ABSOLUTE_TIMEOUT (or past its stored expiry), and one whose user is disabled or gone. A
    dead session's row is deleted when it is found, so the table does not keep them.
    """
    if not _plausible(cookie_value):
        return None
    token_hash = _token_hash(cookie_value or "")
    with database.read() as conn:
        row = conn.execute(
            select(
                user_session.c.user_pk,
                user_session.c.csrf_token,
                user_session.c.created,
                user_session.c.last_seen,
                user_session.c.expires,
                user_session.c.address,
                user_account.c.disabled,
            )
            .select_from(user_session.join(user_account))
            .where(user_session.c.token_hash == token_hash)
        ).first()
    if row is None:
        return None
    now = _now()
    created, last_seen, expires = as_utc(row.created), as_utc(row.last_seen), as_utc(row.expires)
    if (
        bool(row.disabled)
        or now >= expires
        or now - created >= ABSOLUTE_TIMEOUT
        or now - last_seen >= IDLE_TIMEOUT
    ):
        with database.write() as conn:
            conn.execute(delete(user_session).where(user_session.c.token_hash == token_hash))
        return None
    if now - last_seen >= LAST_SEEN_STEP:
        last_seen = now
        with database.write() as conn:
            conn.execute(
                update(user_session)
                .where(user_session.c.token_hash == token_hash)
                .values(last_seen=stored_time(now))
            )
    return ActiveSession(
        token_hash=token_hash,
        user_pk=int(row.user_pk),
        csrf_token=str(row.csrf_token),
        created=created,
        last_seen=last_seen,
        expires=expires,
        address=row.address,
    )


def end_session(database: Database, cookie_value: str | None) -> bool:
    """Sign the browser holding `cookie_value` out; True when there was a session to end."""
    if not _plausible(cookie_value):
        return False
    with database.write() as conn:
        result = conn.execute(
            delete(user_session).where(user_session.c.token_hash == _token_hash(cookie_value or ""))
        )
    return bool(result.rowcount)


def end_all_sessions(database: Database, user_pk: int) -> int:
    """Sign a user out everywhere (disabled, password changed, account compromised); returns
    how many sessions ended."""
    with database.write() as conn:
        result = conn.execute(delete(user_session).where(user_session.c.user_pk == user_pk))
    return int(result.rowcount)


def remove_expired_sessions(database: Database) -> int:
    """Delete sessions past their idle or absolute limit that nobody came back to; returns
    how many. Sessions are checked on use anyway: this only keeps the table small."""
    now = _now()
    with database.write() as conn:
        result = conn.execute(
            delete(user_session).where(
                (user_session.c.expires <= stored_time(now))
                | (user_session.c.created <= stored_time(now - ABSOLUTE_TIMEOUT))
                | (user_session.c.last_seen <= stored_time(now - IDLE_TIMEOUT))
            )
        )
    return int(result.rowcount)


def check_csrf(session: ActiveSession, submitted: str | None) -> bool:
    """True when a form came back with this session's CSRF token (in constant time, so the
    comparison does not tell an attacker how much of a guess was right)."""
    if not submitted:
        return False
    return hmac.compare_digest(session.csrf_token.encode("utf-8"), submitted.encode("utf-8"))
