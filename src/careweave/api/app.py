"""The ASGI application: the FHIR API mounted on one store, with errors as OperationOutcomes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from careweave import __version__
from careweave.access.accounts import UserAccount
from careweave.access.audit import AuditRecord, AuditTrail
from careweave.api.audit_routes import audit_router
from careweave.api.auth import CHALLENGE
from careweave.api.requests import FormatCheck
from careweave.api.responses import FhirResponse, outcome_response
from careweave.api.routes import router
from careweave.api.serving import settle_for_serving
from careweave.coordination.notifications import notify_overdue_tasks, watch_for_events
from careweave.fhir.errors import FhirError, Issue
from careweave.routing import add_routes
from careweave.settings import Settings
from careweave.store.database import open_database
from careweave.store.repository import FhirStore
from careweave.store.wal_checkpoints import WalCheckpointer
from careweave.subscriptions import watch_subscriptions
from careweave.subscriptions.delivery import BackgroundWorker, Job, deliver_due
from careweave.web.app import OnEvent, build_web_router
from careweave.web.pages import web_error_page
from careweave.web.settings import WebSettings

logger = logging.getLogger("careweave.api")
_HTTP_CODES = {404: "not-found", 405: "not-supported", 413: "too-costly", 415: "not-supported"}


def _audit_web_event(trail: AuditTrail, also: OnEvent | None) -> OnEvent:
    """Sign-in, failed sign-in and sign-out from the web pages, into the audit trail."""

    def record(event: str, user: UserAccount | None, outcome: str, address: str | None) -> None:
        if also is not None:
            also(event, user, outcome, address)
        trail.record(
            [
                AuditRecord(
                    event=event,
                    action="E",
                    outcome=outcome,
                    username=user.username if user else None,
                    display_name=user.display_name if user else None,
                    role=user.role.value if user else None,
                    organisation_id=user.organisation_id if user else None,
                    practitioner_role_id=user.practitioner_role_id if user else None,
                    patient_id=None,
                    entity=None,
                    reason=None,
                    break_glass=False,
                    address=address[:64] if address else None,
                    recorded=datetime.now(UTC),
                )
            ]
        )

    return record


def background_worker(settings: Settings, store: FhirStore) -> BackgroundWorker:
    """The worker the server runs when `settings.worker` is on: Subscription deliveries, and
    the sweep that tells task owners their task is overdue."""
    return BackgroundWorker(
        [
            Job("subscription deliveries", settings.worker_interval, lambda: deliver_due(store)),
            Job(
                "overdue tasks",
                settings.overdue_sweep_interval,
                lambda: notify_overdue_tasks(store),
            ),
        ]
    )


def create_app(
    settings: Settings,
    store: FhirStore | None = None,
    *,
    web: WebSettings | None = None,
    on_web_event: OnEvent | None = None,
    long_running: bool = False,
) -> FastAPI:
    """Build the app; pass `store` to share one (tests), or it opens `settings.database_url`.
    `web` overrides the web pages' settings (default: from the environment); `on_web_event`
    also hears of sign-ins and sign-outs (they always go to the audit trail).

    One app serves the FHIR API (bearer tokens) and the web pages (session cookies); both reach
    the record through careweave.access.guard and write to the same audit trail.

    Every write to the store from now on (API, web pages, Bundles; not the bulk import) tells
    the people around a person of meaningful changes and queues FHIR Subscription
    notifications, in the write's own transaction. With `settings.worker` the app also runs
    the background worker while it is up (started on start-up, stopped on shutdown).

    `long_running` is for a server process (`careweave serve`), not a test's app: at start-up
    it puts what is loaded out of the garbage collector's way (see `settle_for_serving`) and,
    on SQLite, checkpoints the write-ahead log from a thread of its own rather than inside
    requests (see careweave.store.wal_checkpoints).
    """
    the_store = store or FhirStore(open_database(settings.database_url))
    watch_for_events(the_store)
    watch_subscriptions(the_store)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        checkpoints = WalCheckpointer(the_store.database) if long_running else None
        if long_running:
            settle_for_serving()
        if checkpoints is not None:
            checkpoints.start()
        worker = background_worker(settings, the_store) if settings.worker else None
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                await asyncio.to_thread(worker.stop)
            if checkpoints is not None:
                await asyncio.to_thread(checkpoints.stop)

    app = FastAPI(
        title="careweave FHIR R4 API",
        version=__version__,
        description="FHIR R4 REST API (UK Core conventions) for joined-up care.",
        docs_url="/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = the_store
    app.state.audit = AuditTrail(app.state.store.database)
    add_routes(app.router, audit_router)  # before the generic routes, which take AuditEvent
    add_routes(app.router, router)

    @app.get("/", include_in_schema=False)
    async def home() -> FhirResponse:
        return FhirResponse({"name": "careweave", "fhir": "/fhir/R4/metadata", "docs": "/docs"})

    add_routes(
        app.router, build_web_router(web, on_event=_audit_web_event(app.state.audit, on_web_event))
    )
    app.add_middleware(FormatCheck, prefix=router.prefix)

    @app.exception_handler(FhirError)
    async def fhir_error(_request: Request, exc: FhirError) -> Response:
        headers = CHALLENGE if exc.status == 401 else None
        return outcome_response(exc.status, exc.issues, headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        page = web_error_page(request, exc.status_code)
        if page is not None:
            return page
        code = _HTTP_CODES.get(exc.status_code, "processing")
        return outcome_response(exc.status_code, [Issue("error", code, str(exc.detail))])

    @app.exception_handler(RequestValidationError)
    async def request_error(_request: Request, exc: RequestValidationError) -> Response:
        return outcome_response(400, [Issue("error", "invalid", str(exc.errors()))])

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        # The client learns only that it failed; the details go to the server's log.
        logger.error("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        page = web_error_page(request, 500)
        if page is not None:
            return page
        return outcome_response(
            500, [Issue("fatal", "exception", "The server could not complete the request")]
        )

    return app
