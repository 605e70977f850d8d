"""The ASGI application: the FHIR API mounted on one store, with errors as OperationOutcomes."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from careweave import __version__
from careweave.api.requests import FormatCheck
from careweave.api.responses import FhirResponse, outcome_response
from careweave.api.routes import router
from careweave.fhir.errors import FhirError, Issue
from careweave.settings import Settings
from careweave.store.database import open_database
from careweave.store.repository import FhirStore

logger = logging.getLogger("careweave.api")
_HTTP_CODES = {404: "not-found", 405: "not-supported", 413: "too-costly", 415: "not-supported"}


def create_app(settings: Settings, store: FhirStore | None = None) -> FastAPI:
    """Build the app; pass `store` to share one (tests), or it opens `settings.database_url`."""
    app = FastAPI(
        title="careweave FHIR R4 API",
        version=__version__,
        description="FHIR R4 REST API (UK Core conventions) for joined-up care.",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.store = store or FhirStore(open_database(settings.database_url))
    app.include_router(router)
    app.add_middleware(FormatCheck, prefix=router.prefix)

    @app.exception_handler(FhirError)
    async def fhir_error(_request: Request, exc: FhirError) -> Response:
        return outcome_response(exc.status, exc.issues)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "processing")
        return outcome_response(exc.status_code, [Issue("error", code, str(exc.detail))])

    @app.exception_handler(RequestValidationError)
    async def request_error(_request: Request, exc: RequestValidationError) -> Response:
        return outcome_response(400, [Issue("error", "invalid", str(exc.errors()))])

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        # The client learns only that it failed; the details go to the server's log.
        logger.error("Unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return outcome_response(
            500, [Issue("fatal", "exception", "The server could not complete the request")]
        )

    @app.get("/", include_in_schema=False)
    async def home() -> FhirResponse:
        return FhirResponse({"name": "careweave", "fhir": "/fhir/R4/metadata", "docs": "/docs"})

    return app
