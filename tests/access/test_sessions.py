"""Web sessions on SQLite and PostgreSQL: only hashes stored, idle and absolute expiry, ending."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from careweave.access.accounts import add_user, disable_user
from careweave.access.sessions import (
    ABSOLUTE_TIMEOUT,
    IDLE_TIMEOUT,
    check_csrf,
    end_all_sessions,
    end_session,
    find_session,
    remove_expired_sessions,
    start_session,
)
from careweave.store.access_tables import user_session
from careweave.store.database import Database, as_datetime

PASSWORD = "three random words here"


def _naive_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _user(database: Database, username: str = "ann.nurse") -> int:
    return add_user(
        database, username, "Ann Nurse", "nurse", password=PASSWORD, organisation_id="org-1"
    )


def _set_times(database: Database, cookie: str, **times: datetime) -> None:
    token_hash = hashlib.sha256(cookie.encode()).hexdigest()
    with database.write() as conn:
        conn.execute(
            update(user_session).where(user_session.c.token_hash == token_hash).values(**times)
        )


def _session_rows(database: Database) -> int:
    with database.read() as conn:
        return int(conn.execute(select(func.count()).select_from(user_session)).scalar_one())


def test_only_a_hash_of_the_cookie_is_stored(database: Database) -> None:
    pk = _user(database)
    new = start_session(database, pk, "192.0.2.7")
    with database.read() as conn:
        row = conn.execute(select(user_session)).one()
    assert row.token_hash == hashlib.sha256(new.cookie_value.encode()).hexdigest()
    assert new.cookie_value not in {row.token_hash, row.csrf_token}
    assert row.address == "192.0.2.7"
    assert row.user_pk == pk
    assert as_datetime(row.expires) - as_datetime(row.created) == ABSOLUTE_TIMEOUT


def test_a_session_is_found_by_its_cookie(database: Database) -> None:
    pk = _user(database)
    new = start_session(database, pk, None)
    found = find_session(database, new.cookie_value)
    assert found is not None
    assert found.user_pk == pk
    assert found.csrf_token == new.csrf_token
    assert found.created.tzinfo is not None


def test_every_session_gets_its_own_cookie_and_csrf_token(database: Database) -> None:
    pk = _user(database)
    first, second = start_session(database, pk, None), start_session(database, pk, None)
    assert first.cookie_value != second.cookie_value
    assert first.csrf_token != second.csrf_token
    assert len(first.cookie_value) >= 43


@pytest.mark.parametrize("cookie", [None, "", "not-a-session", "x" * 500])
def test_unknown_cookies_find_nothing(database: Database, cookie: str | None) -> None:
    start_session(database, _user(database), None)
    assert find_session(database, cookie) is None


def test_a_session_idle_too_long_is_over_and_removed(database: Database) -> None:
    new = start_session(database, _user(database), None)
    _set_times(
        database, new.cookie_value, last_seen=_naive_now() - IDLE_TIMEOUT - timedelta(minutes=1)
    )
    assert find_session(database, new.cookie_value) is None
    assert _session_rows(database) == 0


def test_a_session_in_use_still_ends_after_the_absolute_limit(database: Database) -> None:
    new = start_session(database, _user(database), None)
    now = _naive_now()
    _set_times(
        database,
        new.cookie_value,
        created=now - ABSOLUTE_TIMEOUT - timedelta(minutes=1),
        last_seen=now,
    )
    assert find_session(database, new.cookie_value) is None


def test_a_session_past_its_stored_expiry_is_over(database: Database) -> None:
    new = start_session(database, _user(database), None)
    _set_times(database, new.cookie_value, expires=_naive_now() - timedelta(seconds=1))
    assert find_session(database, new.cookie_value) is None


def test_a_session_just_inside_the_idle_limit_lives(database: Database) -> None:
    new = start_session(database, _user(database), None)
    _set_times(
        database, new.cookie_value, last_seen=_naive_now() - IDLE_TIMEOUT + timedelta(minutes=2)
    )
    assert find_session(database, new.cookie_value) is not None


def test_last_seen_is_written_at_most_once_a_minute(database: Database) -> None:
    new = start_session(database, _user(database), None)
    recent = (_naive_now() - timedelta(seconds=10)).replace(microsecond=0)
    _set_times(database, new.cookie_value, last_seen=recent)
    found = find_session(database, new.cookie_value)
    assert found is not None
    assert found.last_seen.replace(tzinfo=None) == recent
    with database.read() as conn:
        assert as_datetime(conn.execute(select(user_session.c.last_seen)).scalar_one()) == recent

    older = (_naive_now() - timedelta(minutes=5)).replace(microsecond=0)
    _set_times(database, new.cookie_value, last_seen=older)
    found = find_session(database, new.cookie_value)
    assert found is not None
    assert found.last_seen.replace(tzinfo=None) > older
    with database.read() as conn:
        assert as_datetime(conn.execute(select(user_session.c.last_seen)).scalar_one()) > older


def test_a_disabled_users_sessions_stop_working(database: Database) -> None:
    new = start_session(database, _user(database), None)
    disable_user(database, "ann.nurse")
    assert find_session(database, new.cookie_value) is None


def test_ending_a_session(database: Database) -> None:
    new = start_session(database, _user(database), None)
    assert end_session(database, new.cookie_value) is True
    assert find_session(database, new.cookie_value) is None
    assert end_session(database, new.cookie_value) is False
    assert end_session(database, None) is False


def test_ending_all_of_one_users_sessions(database: Database) -> None:
    ann, bob = _user(database), _user(database, "bob.gp")
    ann_sessions = [start_session(database, ann, None) for _ in range(3)]
    bob_session = start_session(database, bob, None)
    assert end_all_sessions(database, ann) == 3
    assert all(find_session(database, s.cookie_value) is None for s in ann_sessions)
    assert find_session(database, bob_session.cookie_value) is not None


def test_removing_expired_sessions_keeps_live_ones(database: Database) -> None:
    pk = _user(database)
    live, idle, old = (start_session(database, pk, None) for _ in range(3))
    now = _naive_now()
    _set_times(database, idle.cookie_value, last_seen=now - IDLE_TIMEOUT - timedelta(minutes=1))
    _set_times(database, old.cookie_value, created=now - ABSOLUTE_TIMEOUT - timedelta(minutes=1))
    assert remove_expired_sessions(database) == 2
    assert find_session(database, live.cookie_value) is not None
    assert _session_rows(database) == 1


def test_csrf_token_must_match_the_sessions(database: Database) -> None:
    pk = _user(database)
    mine, other = start_session(database, pk, None), start_session(database, pk, None)
    session = find_session(database, mine.cookie_value)
    assert session is not None
    assert check_csrf(session, mine.csrf_token)
    assert not check_csrf(session, other.csrf_token)
    assert not check_csrf(session, "")
    assert not check_csrf(session, None)
    assert not check_csrf(session, mine.csrf_token + "x")
    assert not check_csrf(session, "é" * 43)
