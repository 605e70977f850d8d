"""Passwords: argon2id hashes that verify, refuse the wrong password, and ask to be renewed when
the parameters change; the length-first policy."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from careweave.access.passwords import (
    MIN_LENGTH,
    PasswordPolicyError,
    check_password_policy,
    dummy_hash,
    hash_password,
    verify_password,
)


def test_a_hash_is_argon2id_salted_and_verifies_only_its_password() -> None:
    first = hash_password("three random words")
    second = hash_password("three random words")
    assert first.startswith("$argon2id$")
    assert "three random words" not in first
    assert first != second  # a fresh salt each time
    check = verify_password(first, "three random words")
    assert check.matches and not check.needs_rehash
    assert not verify_password(first, "three random wordz").matches
    assert not verify_password(first, "").matches


def test_the_same_password_typed_composed_or_decomposed_matches() -> None:
    stored = hash_password("caf\u00e9 au lait please")
    assert verify_password(stored, "cafe\u0301 au lait please").matches


def test_a_hash_that_is_not_argon2_never_matches() -> None:
    assert not verify_password("not a hash", "anything at all").matches
    assert not verify_password(dummy_hash(), "").matches


def test_a_hash_made_with_weaker_parameters_matches_and_asks_to_be_renewed() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("kettle lamp orbit")
    check = verify_password(weak, "kettle lamp orbit")
    assert check.matches and check.needs_rehash


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("short one", "at least 12"),
        ("a" * (MIN_LENGTH + 3), "one character repeated"),
        ("AaAaAaAaAaAaAa", "one character repeated"),
        ("019876543210", "only digits"),
        ("Password1234", "first passwords anyone guesses"),
        ("x" * 300, "longer than"),
        ("my name is jsmith ok", "contains the username"),
    ],
)
def test_the_policy_refuses_easily_guessed_passwords(password: str, why: str) -> None:
    with pytest.raises(PasswordPolicyError, match=why):
        check_password_policy(password, username="jsmith")


def test_the_policy_accepts_long_passwords_without_imposed_complexity() -> None:
    check_password_policy("correct horse battery", username="jsmith")
    check_password_policy("lowercaseonlywords")
    assert issubclass(PasswordPolicyError, ValueError)
