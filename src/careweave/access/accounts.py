"""User accounts: who may sign in, in which role, acting for which organisation or person.

An account links a person to the FHIR resources they act through: staff to their Organization
(and PractitionerRole and Practitioner when they are in the workforce directory), a person
(role patient) to their own Patient record, a carer to the RelatedPerson record that names
them and to the Patient they look after. The access policy (careweave.access.policy) decides
what each of those links lets them see; this module only keeps the links truthful.

Sign-in is built to resist guessing: after MAX_FAILED_SIGN_INS wrong passwords in a row an
account is locked for LOCK_DURATION, every attempt costs one argon2 verification whether or
not the username exists, and the reason shown to people never tells a wrong password from an
unknown username. Once an account is locked, "locked" is shown (its holder must learn why they
cannot sign in), so someone who guesses a username can learn it exists after locking it: the
lock-out bounds how many passwords they can try, which is what protects the account.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from careweave.access.passwords import (
    check_password_policy,
    dummy_hash,
    hash_password,
    verify_password,
)
from careweave.access.principal import Principal
from careweave.access.roles import STAFF_ROLES, Role, parse_role
from careweave.access.scopes import Scopes
from careweave.fhir.errors import Gone, NotFound
from careweave.store.access_tables import user_account
from careweave.store.database import Database, as_utc, stored_time

if TYPE_CHECKING:
    from careweave.store.repository import FhirStore

MAX_FAILED_SIGN_INS = 5
LOCK_DURATION = timedelta(minutes=15)
USERNAME_PATTERN = re.compile(r"^[a-z0-9._-]{3,64}$")
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
# Staff roles that are not about any one person's care, so need no organisation.
ROLES_WITHOUT_ORGANISATION = frozenset({Role.ADMINISTRATOR, Role.ANALYST})

PublicReason = Literal["ok", "unknown-or-wrong", "locked", "disabled"]


class AccountError(ValueError):
    """An account that cannot be made or changed as asked; the message says what to fix."""


@dataclass(frozen=True)
class AccountLinks:
    """The FHIR ids an account acts through (see the module docstring)."""

    organisation_id: str | None = None
    practitioner_id: str | None = None
    practitioner_role_id: str | None = None
    patient_id: str | None = None
    related_person_id: str | None = None


@dataclass(frozen=True)
class UserAccount:
    """An account as the rest of careweave sees it: never the password hash, so it cannot end
    up in a log line or a template by accident. Times are aware UTC."""

    pk: int
    username: str
    display_name: str
    role: Role
    organisation_id: str | None
    practitioner_id: str | None
    practitioner_role_id: str | None
    patient_id: str | None
    related_person_id: str | None
    caldicott_guardian: bool
    disabled: bool
    has_password: bool
    failed_sign_ins: int
    locked_until: datetime | None
    created: datetime

    def locked_at(self, moment: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > moment


@dataclass(frozen=True)
class SignInResult:
    """What a sign-in attempt came to.

    `reason` may be shown to the person signing in; `detail` is for the audit trail only (it
    tells an unknown username from a wrong password, which people must not be told). `user` is
    set only when `ok`.
    """

    ok: bool
    user: UserAccount | None
    reason: PublicReason
    detail: str


def _now() -> datetime:
    return datetime.now(UTC)


USER_COLUMNS: tuple[Any, ...] = (
    *(c for c in user_account.c if c.name != "password_hash"),
    user_account.c.password_hash.is_not(None).label("has_password"),
)
"""What `user_from_row` needs, for queries that join accounts to other tables."""


def user_from_row(row: Any) -> UserAccount:
    """The account in a result row (a SQLAlchemy Row, or any row with the USER_COLUMNS'
    names; timestamps and flags in either driver's form)."""
    return UserAccount(
        pk=int(row.pk),
        username=row.username,
        display_name=row.display_name,
        role=Role(row.role),
        organisation_id=row.organisation_id,
        practitioner_id=row.practitioner_id,
        practitioner_role_id=row.practitioner_role_id,
        patient_id=row.patient_id,
        related_person_id=row.related_person_id,
        caldicott_guardian=bool(row.caldicott_guardian),
        disabled=bool(row.disabled),
        has_password=bool(row.has_password),
        failed_sign_ins=int(row.failed_sign_ins),
        locked_until=as_utc(row.locked_until) if row.locked_until is not None else None,
        created=as_utc(row.created),
    )


def _select_users() -> Any:
    return select(*USER_COLUMNS)


def _key_clause(key: str | int) -> Any:
    if isinstance(key, int):
        return user_account.c.pk == key
    return user_account.c.username == key.strip().lower()


def _load(conn: Connection, key: str | int) -> UserAccount | None:
    row = conn.execute(_select_users().where(_key_clause(key))).first()
    return None if row is None else user_from_row(row)


# --- Making and changing accounts ---------------------------------------------------------------


def _clean_id(label: str, value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not _FHIR_ID.match(value):
        raise AccountError(
            f"'{value}' is not a FHIR id ({label}): 1-64 letters, digits, '-' and '.'"
        )
    return value


def _reference_id(resource: dict[str, Any], field: str, resource_type: str) -> str | None:
    reference = (resource.get(field) or {}).get("reference")
    if isinstance(reference, str) and reference.startswith(f"{resource_type}/"):
        return reference.removeprefix(f"{resource_type}/")
    return None


def _read(store: FhirStore, resource_type: str, resource_id: str) -> dict[str, Any]:
    try:
        return store.read(resource_type, resource_id).as_dict()
    except (NotFound, Gone):
        raise AccountError(
            f"{resource_type}/{resource_id} is not in the store; load the directory first "
            "or check the id"
        ) from None


def check_references(
    store: FhirStore,
    *,
    organisation_id: str | None = None,
    practitioner_id: str | None = None,
    practitioner_role_id: str | None = None,
    patient_id: str | None = None,
    related_person_id: str | None = None,
) -> AccountLinks:
    """The links, each checked to exist in `store` and to agree with the others.

    A PractitionerRole must belong to the organisation and practitioner given with it (and
    fills them in when they were left out); a RelatedPerson must name the patient given with
    it (and fills it in). An account that pointed at someone else's post or person would see
    records its holder has no relationship with.
    """
    if practitioner_role_id is not None:
        role = _read(store, "PractitionerRole", practitioner_role_id)
        if role.get("active") is False:
            raise AccountError(f"PractitionerRole/{practitioner_role_id} is not active")
        role_organisation = _reference_id(role, "organization", "Organization")
        if organisation_id is None:
            organisation_id = role_organisation
        elif role_organisation != organisation_id:
            raise AccountError(
                f"PractitionerRole/{practitioner_role_id} is a post at "
                f"Organization/{role_organisation}, not Organization/{organisation_id}"
            )
        role_practitioner = _reference_id(role, "practitioner", "Practitioner")
        if practitioner_id is None:
            practitioner_id = role_practitioner
        elif role_practitioner != practitioner_id:
            raise AccountError(
                f"PractitionerRole/{practitioner_role_id} is held by "
                f"Practitioner/{role_practitioner}, not Practitioner/{practitioner_id}"
            )
    if related_person_id is not None:
        related = _read(store, "RelatedPerson", related_person_id)
        if related.get("active") is False:
            raise AccountError(f"RelatedPerson/{related_person_id} is no longer active")
        cared_for = _reference_id(related, "patient", "Patient")
        if patient_id is None:
            patient_id = cared_for
        elif cared_for != patient_id:
            raise AccountError(
                f"RelatedPerson/{related_person_id} is related to Patient/{cared_for}, "
                f"not Patient/{patient_id}"
            )
    for resource_type, resource_id in (
        ("Organization", organisation_id),
        ("Practitioner", practitioner_id),
        ("Patient", patient_id),
    ):
        if resource_id is not None:
            _read(store, resource_type, resource_id)
    return AccountLinks(
        organisation_id, practitioner_id, practitioner_role_id, patient_id, related_person_id
    )


def _check_role_links(role: Role, links: AccountLinks, caldicott_guardian: bool) -> None:
    """Each role acts through exactly the links it needs, so the policy never has to guess."""
    if role is Role.SYSTEM:
        raise AccountError(
            "'system' is the role of an API client, not a person: issue a system token "
            "with `careweave token issue --client NAME --scope system/...`"
        )
    workforce = (links.organisation_id, links.practitioner_id, links.practitioner_role_id)
    if role in STAFF_ROLES:
        if links.organisation_id is None and role not in ROLES_WITHOUT_ORGANISATION:
            raise AccountError(
                f"A {role.value} acts for an organisation: give its Organization id "
                "(or a PractitionerRole to take it from)"
            )
        if links.patient_id is not None or links.related_person_id is not None:
            raise AccountError(
                f"A {role.value} account is a member of staff; a Patient or RelatedPerson "
                "belongs only on a patient or carer account"
            )
        if caldicott_guardian and links.organisation_id is None:
            raise AccountError(
                "A Caldicott guardian reviews access for an organisation: give its id"
            )
        return
    if caldicott_guardian:
        raise AccountError("Only a member of staff can be a Caldicott guardian")
    if any(value is not None for value in workforce):
        raise AccountError(
            f"A {role.value} account acts for a person, not an organisation: leave out the "
            "Organization, Practitioner and PractitionerRole"
        )
    if links.patient_id is None:
        whose = "their own" if role is Role.PATIENT else "the cared-for person's"
        raise AccountError(f"A {role.value} account needs {whose} Patient id")
    if role is Role.PATIENT and links.related_person_id is not None:
        raise AccountError("A patient account has no RelatedPerson; that is for carers")
    if role is Role.CARER and links.related_person_id is None:
        raise AccountError(
            "A carer account needs the RelatedPerson id that records them as the carer"
        )


@dataclass(frozen=True)
class NewAccount:
    """An account checked and ready to be written (see `check_new_user`)."""

    username: str
    display_name: str
    role: Role
    links: AccountLinks
    caldicott_guardian: bool


def check_new_user(
    database: Database,
    username: str,
    display_name: str,
    role: Role | str,
    *,
    organisation_id: str | None = None,
    practitioner_id: str | None = None,
    practitioner_role_id: str | None = None,
    patient_id: str | None = None,
    related_person_id: str | None = None,
    caldicott_guardian: bool = False,
    store: FhirStore | None = None,
) -> NewAccount:
    """The account `add_user` would make, or AccountError saying what is wrong with it; lets
    the command line refuse before asking anyone to type a password."""
    name = username.strip().lower()
    if not USERNAME_PATTERN.match(name):
        raise AccountError(
            f"'{username}' is not a username: 3-64 characters from a-z, 0-9, '.', '_' and '-'"
        )
    shown = " ".join(display_name.split())
    if not shown or len(shown) > 200:
        raise AccountError("Give the person's name as it should be shown (1-200 characters)")
    try:
        the_role = role if isinstance(role, Role) else parse_role(role)
    except ValueError as exc:
        raise AccountError(str(exc)) from None
    links = AccountLinks(
        _clean_id("organisation", organisation_id),
        _clean_id("practitioner", practitioner_id),
        _clean_id("practitioner role", practitioner_role_id),
        _clean_id("patient", patient_id),
        _clean_id("related person", related_person_id),
    )
    if store is not None:
        links = check_references(
            store,
            organisation_id=links.organisation_id,
            practitioner_id=links.practitioner_id,
            practitioner_role_id=links.practitioner_role_id,
            patient_id=links.patient_id,
            related_person_id=links.related_person_id,
        )
    _check_role_links(the_role, links, caldicott_guardian)
    if get_user(database, name) is not None:
        raise AccountError(f"There is already an account called '{name}'")
    return NewAccount(name, shown, the_role, links, caldicott_guardian)


def add_user(
    database: Database,
    username: str,
    display_name: str,
    role: Role | str,
    *,
    password: str | None = None,
    organisation_id: str | None = None,
    practitioner_id: str | None = None,
    practitioner_role_id: str | None = None,
    patient_id: str | None = None,
    related_person_id: str | None = None,
    caldicott_guardian: bool = False,
    store: FhirStore | None = None,
) -> int:
    """Create an account and return its pk; AccountError (nothing written) when it is not valid.

    With `store`, every FHIR id must exist there and agree (see `check_references`). Without a
    password the account cannot sign in until `set_password`.
    """
    account = check_new_user(
        database,
        username,
        display_name,
        role,
        organisation_id=organisation_id,
        practitioner_id=practitioner_id,
        practitioner_role_id=practitioner_role_id,
        patient_id=patient_id,
        related_person_id=related_person_id,
        caldicott_guardian=caldicott_guardian,
        store=store,
    )
    password_hash = None
    if password is not None:
        check_password_policy(password, account.username)
        password_hash = hash_password(password)
    links = account.links
    taken = AccountError(f"There is already an account called '{account.username}'")
    with database.write() as conn:
        if _load(conn, account.username) is not None:  # added by someone else since we looked
            raise taken
        try:
            result = conn.execute(
                user_account.insert().values(
                    username=account.username,
                    display_name=account.display_name,
                    password_hash=password_hash,
                    role=account.role.value,
                    organisation_id=links.organisation_id,
                    practitioner_id=links.practitioner_id,
                    practitioner_role_id=links.practitioner_role_id,
                    patient_id=links.patient_id,
                    related_person_id=links.related_person_id,
                    caldicott_guardian=account.caldicott_guardian,
                    failed_sign_ins=0,
                    locked_until=None,
                    disabled=False,
                    created=stored_time(_now()),
                )
            )
        except IntegrityError:  # PostgreSQL: inserted concurrently after our check
            raise taken from None
        pk = result.inserted_primary_key
        if pk is None:  # pragma: no cover - both dialects return the key
            raise RuntimeError("the database did not return the new account's key")
        return int(pk[0])


def get_user(database: Database, key: str | int) -> UserAccount | None:
    """The account with this username (any case) or pk, or None."""
    with database.read() as conn:
        return _load(conn, key)


def list_users(database: Database) -> list[UserAccount]:
    with database.read() as conn:
        rows = conn.execute(_select_users().order_by(user_account.c.username)).all()
    return [user_from_row(row) for row in rows]


def _require(conn: Connection, username: str) -> UserAccount:
    user = _load(conn, username)
    if user is None:
        raise AccountError(f"There is no account called '{username}'")
    return user


def disable_user(database: Database, username: str) -> UserAccount:
    """Stop the account from signing in or using its tokens, at once; the row stays, because the
    audit trail names it. Disabling twice is harmless."""
    with database.write() as conn:
        user = _require(conn, username)
        conn.execute(update(user_account).where(user_account.c.pk == user.pk).values(disabled=True))
    return replace(user, disabled=True)


def set_password(database: Database, username: str, password: str) -> None:
    """Give the account a new password (and lift any lock-out: an administrator has just
    vouched for the person). PasswordPolicyError when the password is too easy to guess."""
    check_password_policy(password, username.strip().lower())
    password_hash = hash_password(password)
    with database.write() as conn:
        user = _require(conn, username)
        conn.execute(
            update(user_account)
            .where(user_account.c.pk == user.pk)
            .values(password_hash=password_hash, failed_sign_ins=0, locked_until=None)
        )


# --- Signing in ---------------------------------------------------------------------------------


def _refused(reason: PublicReason, detail: str) -> SignInResult:
    return SignInResult(ok=False, user=None, reason=reason, detail=detail)


def sign_in(
    database: Database, username: str, password: str, address: str | None = None
) -> SignInResult:
    """Check a username and password, counting failures towards a lock-out.

    The attempt is counted *before* the password is checked, in the same transaction that
    reads the lock, so requests sent in parallel cannot get more than MAX_FAILED_SIGN_INS
    guesses past the lock; a right password then clears the count. `address` is not stored
    here: the caller records it in the audit trail with `detail`.
    """
    del address  # for the caller's audit record; kept in the signature for symmetry
    name = username.strip().lower()
    now = _now()
    stored_hash: str | None = None
    refusal: SignInResult | None = None
    pk = 0
    failures = 0
    with database.write() as conn:
        row = (
            conn.execute(
                select(user_account).where(user_account.c.username == name).with_for_update()
            ).first()
            if USERNAME_PATTERN.match(name)
            else None
        )
        if row is None:
            refusal = _refused("unknown-or-wrong", "unknown-username")
        elif bool(row.disabled):
            refusal = _refused("disabled", "disabled")
        elif row.locked_until is not None and as_utc(row.locked_until) > now:
            refusal = _refused("locked", f"locked-until {as_utc(row.locked_until).isoformat()}")
        elif row.password_hash is None:
            refusal = _refused("unknown-or-wrong", "no-password-set")
        else:
            pk, stored_hash = int(row.pk), str(row.password_hash)
            # A lock that has run out gives a fresh set of attempts.
            failures = (0 if row.locked_until is not None else int(row.failed_sign_ins)) + 1
            locked_until = now + LOCK_DURATION if failures >= MAX_FAILED_SIGN_INS else None
            conn.execute(
                update(user_account)
                .where(user_account.c.pk == pk)
                .values(
                    failed_sign_ins=failures,
                    locked_until=stored_time(locked_until) if locked_until else None,
                )
            )
    # Exactly one argon2 verification on every path, so timing tells nothing.
    check = verify_password(stored_hash or dummy_hash(), password)
    if refusal is not None:
        return refusal
    if not check.matches:
        detail = "wrong-password"
        if failures >= MAX_FAILED_SIGN_INS:
            detail += f"; locked for {int(LOCK_DURATION.total_seconds() // 60)} minutes"
        return _refused("unknown-or-wrong", detail)
    values: dict[str, Any] = {"failed_sign_ins": 0, "locked_until": None}
    if check.needs_rehash:
        values["password_hash"] = hash_password(password)
    with database.write() as conn:
        # Only if nobody disabled the account or changed its password while we were checking.
        changed = conn.execute(
            update(user_account)
            .where(
                user_account.c.pk == pk,
                user_account.c.disabled.is_(False),
                user_account.c.password_hash == stored_hash,
            )
            .values(**values)
        ).rowcount
        user = _load(conn, pk) if changed else None
    if user is None:
        return _refused("unknown-or-wrong", "account-changed-during-sign-in")
    return SignInResult(ok=True, user=user, reason="ok", detail="ok")


# --- Acting as the user -------------------------------------------------------------------------


def principal_for_user(
    user: UserAccount, scopes: Scopes | None = None, address: str | None = None
) -> Principal:
    """The user as a request's Principal. Without `scopes` they hold everything their role and
    relationships allow: user/ context for staff, patient/ context for a person or carer (whose
    access is to one person's record). A disabled account never acts: AccountError."""
    if user.disabled:
        raise AccountError(f"The account '{user.username}' is disabled")
    if scopes is None:
        scopes = Scopes.everything("patient" if user.role in (Role.PATIENT, Role.CARER) else "user")
    return Principal(
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        scopes=scopes,
        user_pk=user.pk,
        organisation_id=user.organisation_id,
        practitioner_id=user.practitioner_id,
        practitioner_role_id=user.practitioner_role_id,
        patient_id=user.patient_id,
        related_person_id=user.related_person_id,
        caldicott_guardian=user.caldicott_guardian,
        address=address,
    )
