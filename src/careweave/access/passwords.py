"""Passwords: argon2id hashes, and the one rule a new password must meet.

argon2id (RFC 9106) is memory-hard, so a stolen copy of `user_account` costs an attacker about
64 MiB and tens of milliseconds per guess per account instead of nanoseconds. The parameters
are argon2-cffi's defaults (the RFC's second recommended set); when they change, an old hash
still verifies and is replaced at the next successful sign-in (`PasswordCheck.needs_rehash`).

The policy follows NCSC password guidance: length matters, imposed complexity (a capital, a
digit, a symbol) does not help and pushes people to predictable patterns such as "Password1!",
so we ask for at least 12 characters (three random words easily pass), refuse only what is
guessed first (one character repeated, digits only, the best-known passwords, the username),
and never expire passwords on a timer.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
# Far longer than any passphrase; stops someone posting megabytes to the sign-in form.
MAX_LENGTH = 256
# The passwords tried first by anyone guessing (lowercased; only ones of 12 or more characters
# matter, shorter ones fail on length).
COMMON_PASSWORDS = frozenset(
    {
        "password1234",
        "password12345",
        "password123456",
        "passwordpassword",
        "qwertyuiopasdfgh",
        "qwertyuiop123",
        "qwerty123456",
        "abcdefghijkl",
        "abc123abc123",
        "iloveyou1234",
        "letmein12345",
        "welcome12345",
        "changeme1234",
        "administrator",
        "1q2w3e4r5t6y",
        "1qaz2wsx3edc",
        "correcthorsebatterystaple",
    }
)

_HASHER = PasswordHasher()


class PasswordPolicyError(ValueError):
    """A new password careweave will not accept; the message says why and what would do."""


@dataclass(frozen=True)
class PasswordCheck:
    """The outcome of checking a password against a stored hash."""

    matches: bool
    # True when the hash was made with older argon2 parameters than today's: store a new one.
    needs_rehash: bool = False


def _normalised(password: str) -> str:
    """NFKC form, so a password typed on a phone and on a PC (composed or decomposed accents,
    full-width digits) is the same password (NIST SP 800-63B asks for this)."""
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    """The argon2id encoded hash (salt and parameters included) to store for `password`."""
    return _HASHER.hash(_normalised(password))


def verify_password(encoded_hash: str, password: str) -> PasswordCheck:
    """Whether `password` matches `encoded_hash`, in time that does not depend on how much of
    it was right (argon2 compares its output in constant time)."""
    try:
        _HASHER.verify(encoded_hash, _normalised(password))
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return PasswordCheck(matches=False)
    return PasswordCheck(matches=True, needs_rehash=_HASHER.check_needs_rehash(encoded_hash))


@cache
def dummy_hash() -> str:
    """A hash no password matches, verified when the username is unknown (or has no password)
    so that answering takes as long as for a real account and timing does not reveal which
    usernames exist."""
    return hash_password("careweave: no account has this password \x00")


def check_password_policy(password: str, username: str | None = None) -> None:
    """Raise PasswordPolicyError when `password` is too easy to guess to be accepted."""
    text = _normalised(password)
    if len(text) < MIN_LENGTH:
        raise PasswordPolicyError(
            f"The password is {len(text)} characters; use at least {MIN_LENGTH} "
            "(three random words make a strong one that is easy to remember)"
        )
    if len(text) > MAX_LENGTH:
        raise PasswordPolicyError(f"The password is longer than {MAX_LENGTH} characters")
    folded = text.casefold()
    if len(set(folded)) == 1:
        raise PasswordPolicyError("The password is one character repeated; choose another")
    if text.isdigit():
        raise PasswordPolicyError(
            "The password is only digits (like a date or phone number); add words"
        )
    if folded in COMMON_PASSWORDS:
        raise PasswordPolicyError("That is one of the first passwords anyone guesses")
    if username and len(username) >= 3 and username.casefold() in folded:
        raise PasswordPolicyError("The password contains the username; choose another")
