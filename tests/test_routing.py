"""Routers' routes go into one flat list, in order (careweave.routing)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Route

from careweave.api.app import create_app
from careweave.routing import add_routes
from careweave.settings import Settings
from careweave.store.database import open_database
from careweave.store.migrate import upgrade


def test_added_routes_serve_in_the_order_they_were_added() -> None:
    first, second = APIRouter(), APIRouter()

    @first.get("/people/{person}")
    def person(person: str) -> dict[str, str]:
        return {"from": "first", "person": person}

    @second.get("/people/me")
    def me() -> dict[str, str]:
        return {"from": "second"}

    @second.get("/places")
    def places() -> dict[str, str]:
        return {"from": "second"}

    app = FastAPI()
    add_routes(app.router, first)
    add_routes(app.router, second)
    client = TestClient(app)
    # The first router's pattern also matches /people/me: as with include_router, it wins.
    assert client.get("/people/me").json() == {"from": "first", "person": "me"}
    assert client.get("/places").json() == {"from": "second"}
    assert client.get("/nowhere").status_code == 404


def test_the_app_matches_every_request_against_one_flat_list_of_routes(tmp_path: Path) -> None:
    """No router wrapped inside another: FastAPI's wrappers cost microseconds per route
    passed, which for the last of the web pages' routes came to most of a millisecond."""
    url = f"sqlite:///{tmp_path / 'careweave.sqlite3'}"
    upgrade(open_database(url))
    app = create_app(Settings(database_url=url))
    routes = app.router.routes
    assert routes and all(isinstance(route, Route) for route in routes)
    paths = [route.path for route in routes if isinstance(route, Route)]
    # The FHIR API first (AuditEvent before the generic routes), then the home page, then
    # the web pages.
    assert paths.index("/fhir/R4/AuditEvent") < paths.index("/fhir/R4/{resource_type}")
    assert paths.index("/fhir/R4/{resource_type}/{resource_id}") < paths.index("/")
    assert paths.index("/") < paths.index("/sign-in")
