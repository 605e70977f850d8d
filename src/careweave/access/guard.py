"""The one door to the shared record: every transport reads and writes through here.

`CareRecordAccess` binds a store to the person asking. It works out once per request what they
may see (careweave.access.policy), hands that to the store so that reads, searches, counts,
includes, history and every entry of a Bundle are filtered inside the database, checks each
interaction against their scopes and role, and writes what happened to the audit trail: one
entry per person whose record was touched, and one for every refusal.

Refusals are chosen so they leak nothing: a record the user may not see is "not known" (404),
exactly as one that does not exist; 403 is kept for what their token or role cannot do to a
whole type, which says nothing about any person.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson

from careweave.access import break_glass
from careweave.access.audit import AuditRecord, AuditTrail
from careweave.access.consent import carer_consent_of
from careweave.access.policy import (
    check_change,
    check_permitted,
    checked_per_record,
    planning_visibility,
    reads_agreements,
    visibility_for,
)
from careweave.access.principal import Principal
from careweave.access.roles import Role
from careweave.access.sharing import active_agreements, shared_view
from careweave.fhir.errors import FhirError, Forbidden
from careweave.fhir.resource_types import SUPPORTED_RESOURCE_TYPES
from careweave.fhir.search_query import CURSOR_PARAMETER, SearchQuery, parse_search
from careweave.store.bundles import process_bundle
from careweave.store.everything import EverythingPage, patient_everything
from careweave.store.repository import (
    FhirStore,
    HistoryPage,
    StoredResource,
    StoreTransaction,
    Touched,
    WriteResult,
    patients_named,
)
from careweave.store.search import SearchPage
from careweave.store.visibility import PatientSet, Visibility

_T = TypeVar("_T")
_A = TypeVar("_A")
_B = TypeVar("_B")

_HeldAudit = dict[tuple[str, str | None, str | None], AuditRecord]

_ALONGSIDE: ThreadPoolExecutor | None = None
_ALONGSIDE_MADE = threading.Lock()
ALONGSIDE_THREADS = 4
"""Threads the reads of a page run alongside each other on, shared by every request: a few are
enough to overlap one request's database waits with its Python; more would only queue on the
interpreter lock."""


_ON_SHARED_THREAD = threading.local()


def _alongside() -> ThreadPoolExecutor:
    global _ALONGSIDE
    with _ALONGSIDE_MADE:
        if _ALONGSIDE is None:
            _ALONGSIDE = ThreadPoolExecutor(ALONGSIDE_THREADS, thread_name_prefix="careweave-read")
        return _ALONGSIDE


def patients_in(resource_type: str, resource_id: str, content: str | None) -> set[str]:
    """Whose record a resource belongs to, for the audit trail: the Patient itself, or every
    patient its JSON refers to (a superset of its compartment, which errs towards telling a
    person more about who looked, never less)."""
    if resource_type == "Patient":
        return {resource_id}
    if content is None:
        return set()
    return set(patients_named(content))


_EVERY_TYPE = frozenset(SUPPORTED_RESOURCE_TYPES)


def _within_scopes(visibility: Visibility | None, principal: Principal) -> Visibility | None:
    """Only types the token may read ('r') are ever shown, whichever route asked: includes,
    system history and exports included."""
    readable = principal.scopes.types_allowed("r")
    if visibility is None:
        if readable == _EVERY_TYPE:
            return None
        return Visibility(readable_types=readable, patients=PatientSet(everyone=True))
    return replace(visibility, readable_types=visibility.readable_types & readable)


@dataclass
class CareRecordAccess:
    """A store seen by one principal. Build one per request (it caches what they may see)."""

    store: FhirStore
    principal: Principal
    audit: AuditTrail | None
    # The Organization id of the service the place takes self-referrals for, when it takes
    # them (careweave.settings.Settings.self_referral_service); None: a person may not refer
    # themselves, whatever transport they use.
    self_referral_to: str | None = None
    _visibility: Visibility | None = field(default=None, init=False)
    _resolved: bool = field(default=False, init=False)
    _break_glass: frozenset[str] = field(default=frozenset(), init=False)
    _in_batch: bool = field(default=False, init=False)
    _held: _HeldAudit | None = field(default=None, init=False)
    # Where a read run by `alongside` on another thread holds its audit entries until they are
    # merged into `_held` in the order the reads were given.
    _thread: threading.local = field(default_factory=threading.local, init=False)

    # -- what they may see -----------------------------------------------------------------

    @property
    def visibility(self) -> Visibility | None:
        if not self._resolved:
            principal = self.principal
            agreements = (
                active_agreements(self.store.database) if reads_agreements(principal) else []
            )
            view = shared_view(agreements, principal.organisation_id, principal.role)
            if principal.user_pk is not None and principal.role not in (Role.PATIENT, Role.CARER):
                self._break_glass = break_glass.active_patients(
                    self.store.database, principal.user_pk
                )
            consented = (
                principal.role is Role.CARER
                and principal.patient_id is not None
                and principal.related_person_id is not None
                and carer_consent_of(self.store, principal.patient_id, principal.related_person_id)
                is not None
            )
            self._visibility = _within_scopes(
                visibility_for(principal, view, self._break_glass, carer_consented=consented),
                principal,
            )
            self._resolved = True
        return self._visibility

    def permit(self, interaction: str, resource_type: str) -> None:
        check_permitted(self.principal, interaction, resource_type)

    def vet(
        self,
        tx: StoreTransaction,
        interaction: str,
        resource_type: str,
        before: str | None,
        body: dict[str, Any],
    ) -> None:
        """The record-by-record check of a write (careweave.access.policy.check_change), for
        the few writes a role may make to some records of a type and not others."""
        principal = self.principal
        if not checked_per_record(principal, interaction, resource_type):
            return
        focus: dict[str, Any] | None = None
        reference = (body.get("focus") or {}).get("reference") if resource_type == "Task" else None
        if isinstance(reference, str) and reference.startswith("ServiceRequest/"):
            try:
                focus = tx.read(
                    "ServiceRequest", reference.removeprefix("ServiceRequest/")
                ).as_dict()
            except FhirError:
                focus = None  # not there, or not theirs to see: the check then refuses
        check_change(
            principal,
            interaction,
            resource_type,
            orjson.loads(before) if before else None,
            body,
            self_referral_to=self.self_referral_to,
            focus=focus,
        )

    # -- reads -----------------------------------------------------------------------------

    def read(self, resource_type: str, resource_id: str) -> StoredResource:
        entity = f"{resource_type}/{resource_id}"
        stored = self._audited(
            "read",
            entity,
            lambda: self._permitted_then(
                "read",
                resource_type,
                lambda: self.store.read(resource_type, resource_id, visibility=self.visibility),
            ),
        )
        self._record_touched([Touched("read", resource_type, resource_id, stored.content)], entity)
        return stored

    def vread(self, resource_type: str, resource_id: str, version_id: int) -> StoredResource:
        entity = f"{resource_type}/{resource_id}/_history/{version_id}"
        stored = self._audited(
            "vread",
            entity,
            lambda: self._permitted_then(
                "vread",
                resource_type,
                lambda: self.store.vread(
                    resource_type, resource_id, version_id, visibility=self.visibility
                ),
            ),
        )
        self._record_touched([Touched("vread", resource_type, resource_id, stored.content)], entity)
        return stored

    def search(self, query: SearchQuery, entity: str) -> SearchPage:
        page = self._audited(
            "search",
            entity,
            lambda: self._permitted_then(
                "search",
                query.resource_type,
                lambda: self.store.search(query, visibility=self.visibility),
            ),
        )
        touched = [Touched("search", rt, rid, c) for rt, rid, c in [*page.matches, *page.included]]
        self._record_touched(touched, entity, always=True)
        return page

    def everything(
        self, patient_id: str, types: Sequence[str] | None, entity: str, **kwargs: Any
    ) -> EverythingPage:
        """A page of `Patient/[id]/$everything`: the person's record, if the user may read
        it (else 404, audited like a read), and the resources in their compartment of the
        types (all by default) that the user may search, under their access conditions.
        Types the user may not search are left out rather than refused: everything the user
        may see is what they asked for."""

        def run() -> EverythingPage:
            self.permit("read", "Patient")
            self.store.read("Patient", patient_id, visibility=self.visibility)
            wanted = [t for t in (types or SUPPORTED_RESOURCE_TYPES) if self._may("search", t)]
            if "Patient" not in wanted and (types is None or "Patient" in types):
                wanted.append("Patient")
            with self.store.database.read() as conn:
                return patient_everything(
                    conn, patient_id, wanted, visibility=self.visibility, **kwargs
                )

        page = self._audited("search", entity, run)
        touched = [Touched("search", rt, rid, c) for rt, rid, c in page.matches]
        self._record_touched(touched, entity, always=True)
        return page

    def _may(self, interaction: str, resource_type: str) -> bool:
        try:
            self.permit(interaction, resource_type)
        except FhirError:
            return False
        visibility = self.visibility
        return visibility is None or visibility.may_read_type(resource_type)

    def history(
        self, resource_type: str | None, resource_id: str | None, entity: str, **kwargs: Any
    ) -> HistoryPage:
        def run() -> HistoryPage:
            if resource_type is not None:
                self.permit("history", resource_type)
            visibility = self.visibility
            return self.store.history(
                resource_type=resource_type,
                resource_id=resource_id,
                visibility=visibility,
                **kwargs,
            )

        page = self._audited("history", entity, run)
        touched = [Touched("history", v.resource_type, v.id, v.content) for v in page.versions]
        self._record_touched(touched, entity, always=True)
        return page

    # -- writes ----------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[StoreTransaction]:
        """A write transaction as this user; what it touched is audited once it commits."""
        try:
            with self.store.transaction(
                visibility=self.visibility, permit=self.permit, vet=self.vet
            ) as tx:
                yield tx
        except FhirError as exc:
            # One entry of a batch runs in its own transaction, and the batch answers its
            # error without raising: record the refusal here, where every entry passes.
            if exc.status in (401, 403, 404) and self._in_batch:
                self._record("transaction", "Bundle entry", None, outcome="4", reason=str(exc))
            raise
        self._record_touched(tx.touched, None)

    def write(self, event: str, entity: str, work: Callable[[StoreTransaction], _T]) -> _T:
        """Run `work` in one transaction as this user; refusals are audited, then raised."""

        def run() -> _T:
            with self.transaction() as tx:
                return work(tx)

        return self._audited(event, entity, run)

    def create(self, body: dict[str, Any], **kwargs: Any) -> WriteResult:
        entity = str(kwargs.get("resource_type") or body.get("resourceType", "?"))
        return self.write("create", entity, lambda tx: tx.create(body, **kwargs))

    def update(
        self, resource_type: str, resource_id: str, body: dict[str, Any], **kwargs: Any
    ) -> WriteResult:
        return self.write(
            "update",
            f"{resource_type}/{resource_id}",
            lambda tx: tx.update(resource_type, resource_id, body, **kwargs),
        )

    def delete(self, resource_type: str, resource_id: str, **kwargs: Any) -> StoredResource | None:
        return self.write(
            "delete",
            f"{resource_type}/{resource_id}",
            lambda tx: tx.delete(resource_type, resource_id, **kwargs),
        )

    def bundle(self, body: object) -> dict[str, Any]:
        self._in_batch = isinstance(body, dict) and body.get("type") == "batch"
        try:
            return self._audited(
                "transaction",
                "Bundle",
                lambda: process_bundle(self.store, body, transaction=self.transaction),
            )
        finally:
            self._in_batch = False

    # -- bulk export -------------------------------------------------------------------------

    def export(
        self,
        resource_types: Sequence[str],
        write: Callable[[str, str], None],
        *,
        purpose: str = "direct-care",
        page_size: int = 1000,
    ) -> dict[str, int]:
        """Every resource of `resource_types` the export may hold, one JSON text at a time to
        `write(resource_type, json)`; returns how many of each type.

        `purpose` "direct-care" exports what the principal may see. "planning" (population
        analytics, research extracts) is for a platform-wide client or an analyst, draws on
        everyone except people with a national data opt-out, and needs no relationship. Each
        page is audited: one entry per person whose records left in it.
        """
        if purpose == "planning":
            if not (self.principal.role is Role.ANALYST or self.principal.is_system):
                raise Forbidden("Planning extracts are made by analysts or platform integrations")
            visibility: Visibility | None = _within_scopes(planning_visibility(), self.principal)
        elif purpose == "direct-care":
            visibility = self.visibility
        else:
            raise Forbidden(f"'{purpose}' is not an export purpose (direct-care or planning)")
        counts: dict[str, int] = {}
        for resource_type in resource_types:
            self.permit("search", resource_type)
            counts[resource_type] = 0
            cursor: str | None = None
            while True:
                params = [("_count", str(page_size))]
                if cursor:
                    params.append((CURSOR_PARAMETER, cursor))
                query = parse_search(
                    resource_type, params, self.store.registry, max_count=page_size
                )
                page = self.store.search(query, visibility=visibility)
                for _, _, content in page.matches:
                    write(resource_type, content)
                counts[resource_type] += len(page.matches)
                touched = [Touched("export", rt, rid, c) for rt, rid, c in page.matches]
                self._record_touched(touched, f"{resource_type} export ({purpose})")
                cursor = page.next_cursor
                if cursor is None:
                    break
        return counts

    # -- audit -----------------------------------------------------------------------------

    @contextmanager
    def audited_as_one(self) -> Iterator[None]:
        """Hold the audit entries of what is done inside, then write them in one transaction
        as the block ends: one entry per person and kind of event, named by the first search
        (or read) that touched them.

        A page that asks a dozen questions about the same few hundred people (the caseload)
        otherwise wrote every person once per question, a transaction each: most of the
        page's time went on the audit. Who looked at whose record, when and as whom is all
        still there. The entries are written before the block is left, so nothing read inside
        reaches the user unaudited: should the write fail, AuditWriteError is raised instead
        of the page being shown. Refusals are still written at once. A block inside another
        joins the outer one."""
        if self._held is not None:
            yield
            return
        self._held = {}
        try:
            yield
        finally:
            held, self._held = self._held, None
            if held and self.audit is not None:
                self.audit.record(list(held.values()))

    def alongside(self, first: Callable[[], _A], second: Callable[[], _B]) -> tuple[_A, _B]:
        """Run two independent reads at once and return both answers, for a page whose
        questions do not depend on each other: one's database wait overlaps the other's
        Python, which is most of what a page of many searches waits for on PostgreSQL.

        Only for reads (searches, reads, history): writes have their own transactions and
        order. The audit comes out exactly as if `first` had run, then `second`: each holds
        its entries apart and they are merged in that order, so a person's entry still names
        the first query that touched them. What the user may see is worked out before either
        starts, so both use the same answer. An error in `first` is raised once `second` is
        done, then one in `second`; the entries of what did run are kept either way. Called
        from a read that another `alongside` runs on a shared thread, the two run one after
        the other: a shared thread waiting for a shared thread could wait for ever."""
        self.visibility  # noqa: B018 - resolved here, once, not by two threads at once
        holder = self._holder()
        if getattr(_ON_SHARED_THREAD, "active", False):
            return first(), second()
        apart: tuple[_HeldAudit | None, _HeldAudit | None] = (
            ({}, {}) if holder is not None else (None, None)
        )

        def run(work: Callable[[], _T], held: _HeldAudit | None, shared: bool) -> _T:
            outer = getattr(self._thread, "held", None)
            self._thread.held = held
            _ON_SHARED_THREAD.active = shared
            try:
                return work()
            finally:
                self._thread.held = outer
                _ON_SHARED_THREAD.active = False

        later = _alongside().submit(contextvars.copy_context().run, run, second, apart[1], True)
        try:
            one = run(first, apart[0], False)
        finally:
            wait([later])
            if holder is not None:
                for held in apart:
                    for key, record in (held or {}).items():
                        holder.setdefault(key, record)
        return one, later.result()

    def _holder(self) -> _HeldAudit | None:
        """Where this thread's audit entries are held: its own place while `alongside` runs
        it, the block's (`audited_as_one`), or None when they are written at once."""
        held: _HeldAudit | None = getattr(self._thread, "held", None)
        return held if held is not None else self._held

    def _permitted_then(self, interaction: str, resource_type: str, work: Callable[[], _T]) -> _T:
        self.permit(interaction, resource_type)
        return work()

    def _audited(self, event: str, entity: str, work: Callable[[], _T]) -> _T:
        try:
            return work()
        except FhirError as exc:
            # Refusals (a Bundle entry's too: EntryError carries its cause's status); not
            # Gone, nor invalid input, which is the caller's mistake rather than a refusal.
            if exc.status in (401, 403, 404):
                for patient in self._whose(entity):
                    self._record(event, entity, patient, outcome="4", reason=str(exc))
            raise

    def _whose(self, entity: str) -> set[str | None]:
        """Whose record a refused request named, so the refusal shows in that person's "who
        looked at my record" (the audit is not shown to the caller, so this tells them nothing).
        """
        parts = entity.split("/")
        if len(parts) >= 2 and "?" not in entity and parts[0] in SUPPORTED_RESOURCE_TYPES:
            try:
                stored = self.store.read(parts[0], parts[1])
            except FhirError:
                return {None}
            return set(patients_in(parts[0], parts[1], stored.content)) or {None}
        return {None}

    def _record_touched(
        self, touched: list[Touched], entity: str | None, *, always: bool = False
    ) -> None:
        """One audit entry per person whose record was touched, per kind of event.

        The entries of one call describe one event (a search, a read, a committed
        transaction), so they are recorded at one instant: which also lets the audit trail
        render what they share once (careweave.access.audit.event_contents)."""
        recorded = datetime.now(UTC)
        seen: dict[tuple[str, str | None], str] = {}
        for item in touched:
            patients: set[str | None] = set()
            patients.update(patients_in(item.resource_type, item.resource_id, item.content))
            for patient in patients or {None}:
                key = (item.event, patient)
                if key not in seen:
                    seen[key] = entity or f"{item.resource_type}/{item.resource_id}"
        if not seen and always and entity is not None:
            seen[("search" if "?" in entity else "history", None)] = entity
        held = self._holder()
        if held is not None:
            for (event, patient), target in seen.items():
                # A person is one entry per kind of event; a search about nobody keeps its own.
                held_key = (event, patient, None if patient is not None else target)
                if held_key not in held:
                    held[held_key] = self._record_of(
                        event, target, patient, outcome="0", recorded=recorded
                    )
            return
        records = [
            self._record_of(event, target, patient, outcome="0", recorded=recorded)
            for (event, patient), target in seen.items()
        ]
        if records and self.audit is not None:
            self.audit.record(records)

    def _record_of(
        self,
        event: str,
        entity: str,
        patient: str | None,
        *,
        outcome: str,
        reason: str | None = None,
        recorded: datetime | None = None,
    ) -> AuditRecord:
        return AuditRecord.for_principal(
            self.principal,
            event=event,
            outcome=outcome,
            patient_id=patient,
            entity=entity,
            reason=reason,
            break_glass=patient is not None and patient in self._break_glass,
            recorded=recorded,
        )

    def _record(
        self,
        event: str,
        entity: str,
        patient: str | None,
        *,
        outcome: str,
        reason: str | None = None,
    ) -> None:
        if self.audit is not None:
            self.audit.record(
                [self._record_of(event, entity, patient, outcome=outcome, reason=reason)]
            )
