"""Signing in and out over HTTP, on SQLite and PostgreSQL: cookies, CSRF, expiry, redirects,
escaping and the headers every page carries."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from starlette.requests import Request

from careweave.access.accounts import MAX_FAILED_SIGN_INS, UserAccount, add_user, disable_user
from careweave.access.sessions import ABSOLUTE_TIMEOUT, IDLE_TIMEOUT
from careweave.api.app import create_app
from careweave.settings import Settings
from careweave.store.access_tables import user_session
from careweave.store.database import Database
from careweave.store.repository import FhirStore
from careweave.web.app import LOCKED, SIGN_IN_COOKIE, build_web_router
from careweave.web.pages import web_error_page
from careweave.web.settings import WebSettings, find_frontend_dir
from careweave.web.signed_in import SESSION_COOKIE

PASSWORD = "kettle orchard lantern"
Event = tuple[str, str | None, str, str | None]


class Browser:
    """A TestClient with the few steps a person takes, and what the audit hook was told."""

    def __init__(self, client: TestClient, database: Database, events: list[Event]) -> None:
        self.client = client
        self.database = database
        self.events = events

    def sign_in_form(self, url: str = "/sign-in") -> str:
        page = self.client.get(url)
        assert page.status_code == 200
        return str(page.text)

    def sign_in(
        self, username: str = "ann.gp", password: str = PASSWORD, next_path: str | None = None
    ) -> httpx.Response:
        html = self.sign_in_form()
        form = {
            "csrf_token": _hidden(html, "csrf_token"),
            "username": username,
            "password": password,
        }
        if next_path is not None:
            form["next"] = next_path
        response: httpx.Response = self.client.post("/sign-in", data=form, follow_redirects=False)
        return response

    def home_csrf(self) -> str:
        page = self.client.get("/home", follow_redirects=False)
        assert page.status_code == 200
        return _hidden(page.text, "csrf_token")

    def session_rows(self) -> int:
        with self.database.read() as conn:
            return int(conn.execute(select(func.count()).select_from(user_session)).scalar_one())


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)">', html)
    assert match, f"no hidden {name} field"
    return match.group(1)


def _set_cookie(response: httpx.Response, name: str) -> str:
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert len(headers) == 1, response.headers.get_list("set-cookie")
    return headers[0]


def _error_summary(html: str) -> str:
    match = re.search(r'<div class="nhsuk-error-summary".*?</ul>', html, re.DOTALL)
    assert match, "no error summary"
    return match.group(0)


def _app_client(
    store: FhirStore, database_url: str, web: WebSettings, base_url: str, events: list[Event]
) -> TestClient:
    def record(event: str, user: UserAccount | None, outcome: str, address: str | None) -> None:
        events.append((event, user.username if user else None, outcome, address))

    app = create_app(Settings(database_url=database_url), store, web=web, on_web_event=record)
    return TestClient(app, base_url=base_url)


@pytest.fixture
def web_settings() -> WebSettings:
    return WebSettings(frontend_dir=find_frontend_dir(), secret_key=b"test key " * 4)


@pytest.fixture
def browser(store: FhirStore, database_url: str, web_settings: WebSettings) -> Iterator[Browser]:
    add_user(
        store.database,
        "ann.gp",
        "Dr Ann Example",
        "gp",
        password=PASSWORD,
        organisation_id="practice-1",
    )
    events: list[Event] = []
    with _app_client(store, database_url, web_settings, "http://testserver", events) as client:
        yield Browser(client, store.database, events)


def _age_session(database: Database, cookie: str, **times: datetime) -> None:
    token_hash = hashlib.sha256(cookie.encode()).hexdigest()
    with database.write() as conn:
        conn.execute(
            update(user_session).where(user_session.c.token_hash == token_hash).values(**times)
        )


# --- Signing in ------------------------------------------------------------------------------


def test_signing_in_sets_a_session_cookie_and_lands_on_home(browser: Browser) -> None:
    response = browser.sign_in()
    assert response.status_code == 303
    assert response.headers["location"] == "/home"
    cookie = _set_cookie(response, SESSION_COOKIE).lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/;" in cookie or cookie.endswith("path=/")
    assert "max-age" not in cookie
    assert "expires" not in cookie
    assert "secure" not in cookie  # plain http here; see the https test
    home = browser.client.get("/home")
    assert home.status_code == 200
    assert "Dr Ann Example" in home.text
    assert "GP" in home.text
    assert "practice-1" in home.text
    assert browser.events == [("sign-in", "ann.gp", "0", "testclient")]


def test_the_session_cookie_is_secure_over_https(
    store: FhirStore, database_url: str, web_settings: WebSettings
) -> None:
    add_user(store.database, "bo.nurse", "Bo", "nurse", password=PASSWORD, organisation_id="o")
    with _app_client(store, database_url, web_settings, "https://testserver", []) as client:
        browser = Browser(client, store.database, [])
        response = browser.sign_in("bo.nurse")
        assert response.status_code == 303
        assert "secure" in _set_cookie(response, SESSION_COOKIE).lower()
        assert browser.client.get("/home").status_code == 200


def test_a_setting_forces_secure_cookies_behind_a_proxy(
    store: FhirStore, database_url: str
) -> None:
    add_user(store.database, "bo.nurse", "Bo", "nurse", password=PASSWORD, organisation_id="o")
    forced = WebSettings(find_frontend_dir(), secure_cookies=True, secret_key=b"k" * 32)
    with _app_client(store, database_url, forced, "http://testserver", []) as client:
        form = client.get("/sign-in")
        assert "secure" in _set_cookie(form, SIGN_IN_COOKIE).lower()


@pytest.mark.parametrize("username", ["ann.gp", "nobody.here"])
def test_wrong_password_and_unknown_user_look_the_same(browser: Browser, username: str) -> None:
    typed = "my secret guess 123"
    response = browser.sign_in(username, typed)
    assert response.status_code == 400
    assert f'value="{username}"' in response.text
    assert typed not in response.text
    assert "Enter a correct username and password" in _error_summary(response.text)
    assert '<a href="#username">' in _error_summary(response.text)
    assert response.text.count("<title>Error: Sign in") == 1
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert browser.session_rows() == 0
    assert browser.events == [("sign-in-failed", None, "4", "testclient")]


def test_unknown_user_and_wrong_password_pages_are_identical(browser: Browser) -> None:
    wrong = browser.sign_in("ann.gp", "not the password")
    unknown = browser.sign_in("zed.who", "not the password")
    assert wrong.status_code == unknown.status_code
    assert _error_summary(wrong.text) == _error_summary(unknown.text)
    assert wrong.text.replace('value="ann.gp"', "") == unknown.text.replace('value="zed.who"', "")


def test_empty_fields_are_named_in_the_error_summary(browser: Browser) -> None:
    response = browser.sign_in("", "")
    assert response.status_code == 400
    summary = _error_summary(response.text)
    assert '<a href="#username">Enter your username</a>' in summary
    assert '<a href="#password">Enter your password</a>' in summary
    assert 'aria-describedby="username-hint username-error"' in response.text
    assert browser.events == []


def test_five_wrong_passwords_lock_the_account(browser: Browser) -> None:
    for _ in range(MAX_FAILED_SIGN_INS):
        response = browser.sign_in("ann.gp", "a wrong password")
        assert LOCKED not in response.text
    response = browser.sign_in("ann.gp", PASSWORD)
    assert response.status_code == 400
    assert LOCKED in _error_summary(response.text)
    assert "contact your administrator" in response.text
    assert browser.session_rows() == 0
    assert [event[0] for event in browser.events] == ["sign-in-failed"] * 6


def test_a_disabled_account_cannot_sign_in(browser: Browser) -> None:
    disable_user(browser.database, "ann.gp")
    response = browser.sign_in()
    assert response.status_code == 400
    assert "Enter a correct username and password" in response.text
    assert browser.session_rows() == 0


def test_the_sign_in_page_sends_a_signed_in_person_home(browser: Browser) -> None:
    browser.sign_in()
    response = browser.client.get("/sign-in", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/home"


def test_signing_in_always_starts_a_new_session(browser: Browser) -> None:
    """Session fixation: a session id the browser already held never becomes the signed-in one,
    and the session it named is ended."""
    browser.sign_in()
    held = browser.client.cookies[SESSION_COOKIE]
    browser.client.cookies.clear()
    form = browser.client.get("/sign-in")
    token = _hidden(form.text, "csrf_token")
    sign_in_cookie = browser.client.cookies[SIGN_IN_COOKIE]
    browser.client.cookies.clear()
    response = browser.client.post(
        "/sign-in",
        data={"csrf_token": token, "username": "ann.gp", "password": PASSWORD},
        headers={"cookie": f"{SESSION_COOKIE}={held}; {SIGN_IN_COOKIE}={sign_in_cookie}"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    fresh = _set_cookie(response, SESSION_COOKIE).split(";")[0].split("=", 1)[1]
    assert fresh != held
    assert browser.session_rows() == 1
    browser.client.cookies.clear()
    replayed = browser.client.get(
        "/home", headers={"cookie": f"{SESSION_COOKIE}={held}"}, follow_redirects=False
    )
    assert replayed.status_code == 303
    browser.client.cookies.clear()
    fresh_home = browser.client.get(
        "/home", headers={"cookie": f"{SESSION_COOKIE}={fresh}"}, follow_redirects=False
    )
    assert fresh_home.status_code == 200


# --- CSRF ---------------------------------------------------------------------------------------


def test_sign_in_without_the_forms_token_is_refused(browser: Browser) -> None:
    browser.sign_in_form()
    response = browser.client.post(
        "/sign-in", data={"username": "ann.gp", "password": PASSWORD}, follow_redirects=False
    )
    assert response.status_code == 403
    assert "did not come from careweave" in response.text
    assert response.headers["content-type"].startswith("text/html")
    assert browser.session_rows() == 0


def test_sign_in_with_a_forged_token_is_refused(browser: Browser) -> None:
    browser.sign_in_form()
    response = browser.client.post(
        "/sign-in",
        data={"csrf_token": "made-up", "username": "ann.gp", "password": PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert browser.session_rows() == 0


def test_sign_in_with_a_planted_unsigned_cookie_is_refused(browser: Browser) -> None:
    """An attacker who can set a cookie still cannot make one that verifies without the key."""
    browser.client.cookies.clear()
    browser.client.cookies.set(SIGN_IN_COOKIE, "attacker.1700000000.deadbeef", path="/sign-in")
    response = browser.client.post(
        "/sign-in",
        data={"csrf_token": "attacker", "username": "ann.gp", "password": PASSWORD},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert browser.session_rows() == 0


def test_sign_in_without_the_cookie_is_refused(browser: Browser) -> None:
    html = browser.sign_in_form()
    browser.client.cookies.clear()
    response = browser.client.post(
        "/sign-in",
        data={
            "csrf_token": _hidden(html, "csrf_token"),
            "username": "ann.gp",
            "password": PASSWORD,
        },
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert browser.session_rows() == 0


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_sign_out_without_the_sessions_token_is_refused(
    browser: Browser, token: str | None
) -> None:
    browser.sign_in()
    browser.home_csrf()
    data = {} if token is None else {"csrf_token": token}
    response = browser.client.post("/sign-out", data=data, follow_redirects=False)
    assert response.status_code == 403
    assert "nothing was changed" in response.text
    assert browser.client.get("/home", follow_redirects=False).status_code == 200
    assert browser.session_rows() == 1
    assert [event[0] for event in browser.events] == ["sign-in"]


def test_another_sessions_token_does_not_sign_out(browser: Browser) -> None:
    browser.sign_in()
    mine = browser.home_csrf()
    browser.client.cookies.delete(SESSION_COOKIE)
    browser.sign_in()
    response = browser.client.post("/sign-out", data={"csrf_token": mine}, follow_redirects=False)
    assert response.status_code == 403
    assert browser.session_rows() == 2


# --- Signing out and expiry ------------------------------------------------------------------


def test_signing_out_ends_the_session(browser: Browser) -> None:
    browser.sign_in()
    cookie = browser.client.cookies[SESSION_COOKIE]
    response = browser.client.post(
        "/sign-out", data={"csrf_token": browser.home_csrf()}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/signed-out"
    assert 'careweave_session=""' in _set_cookie(response, SESSION_COOKIE)
    assert browser.session_rows() == 0
    # The old cookie, replayed, no longer works.
    browser.client.cookies.set(SESSION_COOKIE, cookie)
    again = browser.client.get("/home", follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"].startswith("/sign-in")
    assert [event[0] for event in browser.events] == ["sign-in", "sign-out"]
    assert browser.client.get("/signed-out").status_code == 200


def test_home_without_a_session_asks_to_sign_in_and_comes_back(browser: Browser) -> None:
    response = browser.client.get("/home?tab=1", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=%2Fhome%3Ftab%3D1"
    form = browser.client.get(response.headers["location"])
    assert _hidden(form.text, "next") == "/home?tab=1"
    signed_in = browser.sign_in(next_path="/home?tab=1")
    assert signed_in.headers["location"] == "/home?tab=1"


@pytest.mark.parametrize(
    "times",
    [
        {"last_seen": -IDLE_TIMEOUT - timedelta(minutes=1)},
        {"created": -ABSOLUTE_TIMEOUT - timedelta(minutes=1), "last_seen": timedelta(0)},
    ],
    ids=["idle", "absolute"],
)
def test_an_expired_session_redirects_to_sign_in(
    browser: Browser, times: dict[str, timedelta]
) -> None:
    browser.sign_in()
    now = datetime.now(UTC).replace(tzinfo=None)
    _age_session(
        browser.database,
        browser.client.cookies[SESSION_COOKIE],
        **{column: now + shift for column, shift in times.items()},
    )
    response = browser.client.get("/home", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/sign-in")
    assert browser.session_rows() == 0


def test_a_disabled_users_session_stops_at_once(browser: Browser) -> None:
    browser.sign_in()
    disable_user(browser.database, "ann.gp")
    assert browser.client.get("/home", follow_redirects=False).status_code == 303


# --- Open redirects, escaping, headers ----------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example",
        "//evil.example/home",
        "/\\evil.example",
        "https:/evil.example",
        "javascript:alert(1)",
        "/home\r\nLocation: https://evil.example",
    ],
)
def test_next_never_leaves_the_site(browser: Browser, target: str) -> None:
    form = browser.client.get("/sign-in", params={"next": target})
    assert _hidden(form.text, "next") == "/home"
    response = browser.sign_in(next_path=target)
    assert response.status_code == 303
    assert response.headers["location"] == "/home"


def test_stored_markup_is_shown_as_text(browser: Browser) -> None:
    add_user(
        browser.database,
        "eve.x",
        '<script>alert("x")</script> Eve',
        "nurse",
        password=PASSWORD,
        organisation_id="org-2",
    )
    browser.sign_in("eve.x")
    home = browser.client.get("/home")
    assert home.status_code == 200
    assert "<script>alert" not in home.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; Eve" in home.text


def _assert_security_headers(response: httpx.Response) -> None:
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-frame-options"] == "DENY"


def test_pages_carry_the_security_headers(browser: Browser) -> None:
    sign_in_page = browser.client.get("/sign-in")
    _assert_security_headers(sign_in_page)
    browser.sign_in()
    home = browser.client.get("/home")
    _assert_security_headers(home)
    assert home.headers["cache-control"] == "no-store"
    refused = browser.client.post("/sign-out", data={}, follow_redirects=False)
    _assert_security_headers(refused)


@pytest.mark.parametrize("path", ["/sign-in", "/home", "/signed-out"])
def test_pages_have_no_inline_script_and_follow_the_page_template(
    browser: Browser, path: str
) -> None:
    browser.sign_in()
    html = browser.client.get(path).text
    assert '<html lang="en-GB">' in html
    assert '<a class="nhsuk-skip-link" data-module="nhsuk-skip-link" href="#maincontent">' in html
    assert '<main class="nhsuk-main-wrapper" id="maincontent">' in html
    assert 'class="nhsuk-header__service-name"' in html
    assert "<footer" in html
    for tag in re.findall(r"<script[^>]*>", html):
        assert " src=" in tag
    assert " style=" not in html
    assert "onclick" not in html.lower()


def test_a_form_that_is_not_a_form_gets_a_readable_page(browser: Browser) -> None:
    response = browser.client.post(
        "/sign-in", content=b'{"username": "x"}', headers={"content-type": "application/json"}
    )
    assert response.status_code == 415
    assert response.headers["content-type"].startswith("text/html")
    assert "<h1>" in response.text


def test_a_failure_inside_a_page_is_a_readable_500_page(
    store: FhirStore, database_url: str, web_settings: WebSettings
) -> None:
    router = build_web_router(web_settings)

    @router.get("/broken")
    def broken() -> None:
        raise RuntimeError("secret internal detail")

    app = create_app(Settings(database_url=database_url), store)
    app.include_router(router)
    with TestClient(app, base_url="http://testserver") as client:
        response = client.get("/broken")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "Sorry, there is a problem with the service" in response.text
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
    _assert_security_headers(response)


@pytest.mark.parametrize(
    ("path", "accept", "is_page"),
    [
        ("/no-such-page", "text/html,application/xhtml+xml,*/*;q=0.8", True),
        ("/fhir/R4/Nothing", "text/html,*/*", False),
        ("/no-such-page", "application/fhir+json", False),
    ],
)
def test_error_pages_are_for_browsers_outside_the_fhir_api(
    path: str, accept: str, is_page: bool
) -> None:
    request = Request(
        {
            "type": "http",
            "method": "GET",
            "path": path,
            "query_string": b"",
            "headers": [(b"accept", accept.encode())],
        }
    )
    page = web_error_page(request, 404)
    assert (page is not None) is is_page
    if page is not None:
        assert page.status_code == 404
        assert b"Page not found" in page.body
        assert page.headers["x-frame-options"] == "DENY"


# --- Assets ---------------------------------------------------------------------------------


@pytest.mark.skipif(find_frontend_dir() is None, reason="run `npm ci` in frontend/ first")
def test_the_nhsuk_frontend_is_served_under_assets(browser: Browser) -> None:
    page = browser.client.get("/sign-in").text
    assert '<link rel="stylesheet" href="/assets/nhsuk-frontend.min.css">' in page
    css = browser.client.get("/assets/nhsuk-frontend.min.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert ".nhsuk-header" in css.text
    assert browser.client.get("/assets/nhsuk-frontend.min.js").status_code == 200
    # The stylesheet asks for its icons at /assets/images/...
    assert "/assets/images/nhsuk-icon-cross.svg" in css.text
    icon = browser.client.get("/assets/images/nhsuk-icon-cross.svg")
    assert icon.status_code == 200
    assert icon.headers["content-type"] == "image/svg+xml"
    init = browser.client.get("/assets/careweave-init.js")
    assert init.status_code == 200
    assert "initAll" in init.text
    assert browser.client.get("/assets/index.scss").status_code == 404
    assert browser.client.get("/assets/../../package.json").status_code == 404


def test_without_the_frontend_pages_are_plain_html(
    store: FhirStore, database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="careweave.web"):
        missing = find_frontend_dir(str(tmp_path / "nowhere"))
    assert missing is None
    assert "NHS.UK frontend assets not found" in caplog.text
    add_user(store.database, "bo.nurse", "Bo", "nurse", password=PASSWORD, organisation_id="o")
    settings = WebSettings(frontend_dir=None, secret_key=b"k" * 32)
    with _app_client(store, database_url, settings, "http://testserver", []) as client:
        browser = Browser(client, store.database, [])
        page = browser.sign_in_form()
        assert "<form" in page
        assert "stylesheet" not in page
        assert "<script" not in page
        assert browser.sign_in("bo.nurse").status_code == 303
        assert "Bo" in client.get("/home").text
        assert client.get("/assets/nhsuk-frontend.min.css").status_code == 404
