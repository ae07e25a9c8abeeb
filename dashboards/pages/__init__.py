"""The web pages: server-rendered Jinja2 shells, one small ES module each.

Role: each page is declared once in ``PAGES`` with the roles that may open it and the
script that drives it. The handler authenticates the session cookie (no page is
public but the login), sends an account that must change its password to
``/password``, picks the locale (``i18n.pick``), and renders the template with the
translator, the session's CSRF token and the navigation the caller's role allows.
Everything the page then does goes through the JSON API (``/api/v1``) and the live
websocket with that CSRF token — one set of rules, audited in one place.

Pages get their own Content-Security-Policy: scripts and styles from this origin only
(files, never inline), connections to this origin only, no framing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from dashboards.auth import Principal, authenticate
from dashboards.errors import ApiError
from dashboards.pages.i18n import LANG_COOKIE, LOCALES, Translator, messages, pick
from dashboards.pages.public import mail_ready
from dashboards.services import Services
from hub.federation import FederationError
from hub.version import fedhub_version
from storage.admins import Role

HERE = Path(__file__).resolve().parent.parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)


@dataclass(frozen=True)
class Page:
    """One page: where it lives, who may open it, its template, script and nav label."""

    name: str
    path: str
    roles: frozenset[Role]
    title: str  # an English message id
    in_nav: bool = True


def N_(message: str) -> str:
    """Mark an English message id for extraction; translated where it is shown."""
    return message


LEVEL_TITLES = (N_("province"), N_("city"), N_("county"), N_("township"), N_("village"))
"""Level names as the API spells them, marked for translation."""

ALL_ROLES = frozenset(Role)
ADMIN = frozenset({Role.ADMIN})
READERS = frozenset({Role.ADMIN, Role.SECURITY})

PAGES: tuple[Page, ...] = (
    Page("topology", "/topology", READERS, N_("Topology")),
    Page("federation", "/federation", READERS, N_("Federation")),
    # pagesdata: a member's federation data and its sync (one page; the path names the member)
    Page("data", "/data", READERS, N_("Federation data")),
    Page("data_member", "/data/{member_id:int}", READERS, N_("Federation data"), False),
    Page("conference", "/conferences/{member_id:int}/{number}", ADMIN, N_("Conference"), False),
    Page("admins", "/admins", frozenset({Role.SECURITY}), N_("Admins")),
    Page("audit", "/audit", frozenset({Role.AUDITOR}), N_("Audit log")),
    Page("settings", "/settings", ADMIN, N_("Settings")),
    Page("tokens", "/tokens", ALL_ROLES, N_("API tokens")),
    Page("password", "/password", ALL_ROLES, N_("Change password"), False),
)
HOME = {Role.ADMIN: "/topology", Role.SECURITY: "/admins", Role.AUDITOR: "/audit"}


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


ENV = _environment()


def catalog_json(locale: str) -> str:
    """The locale's catalog as JSON safe inside ``<script type="application/json">``:
    every ``<`` is escaped, so no translation can end the element (``</script>``) or
    open a comment (``<!--``) and turn the rest of the page into markup."""
    return orjson.dumps(messages(locale)).decode().replace("<", "\\u003c")


def render(template: str, translator: Translator, **context: Any) -> HTMLResponse:
    """Render ``template`` in the translator's language, with the pages' CSP."""
    ENV.install_gettext_callables(  # type: ignore[attr-defined]
        translator.gettext, translator.ngettext, newstyle=True
    )
    html = ENV.get_template(template).render(
        t=translator,
        locale=translator.locale,
        locales=LOCALES,
        version=fedhub_version(),
        i18n_json=catalog_json(translator.locale),
        **context,
    )
    return HTMLResponse(html, headers={"Content-Security-Policy": PAGE_CSP})


async def _locale(request: Request, services: Services, admin_id: int | None) -> str:
    stored = None
    if admin_id is not None and services.preferences is not None:
        stored = await services.preferences.locale(admin_id)
    return pick(stored, request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


async def _principal(request: Request, services: Services) -> Principal | None:
    if request.headers.get("authorization"):
        return None  # pages are for browsers: a bearer token opens none
    try:
        return await authenticate(request, services)
    except ApiError:
        return None


MAX_NEXT = 2048
"""The longest ``next`` the login page carries (a path of this hub is far shorter)."""


def safe_next(raw: str) -> str:
    """``raw`` if it is a path on this hub, else ``""``: the login's ``next`` is no open
    redirect. Browsers drop tab, CR and LF anywhere in a URL and read ``\\`` as ``/``, so
    ``/<tab>/evil.example`` would become ``//evil.example`` (another host) once the login
    script navigates to it: control characters and backslashes are refused outright."""
    if (
        len(raw) > MAX_NEXT
        or not raw.startswith("/")
        or raw.startswith("//")
        or "\\" in raw
        or any(c < " " or c == "\x7f" for c in raw)
    ):
        return ""
    return raw


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/?next={quote(target, safe='/')}", status_code=303)


def _nav(role: Role) -> list[Page]:
    return [p for p in PAGES if p.in_nav and role in p.roles]


def _page_handler(page: Page, services: Services) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        me = await _principal(request, services)
        if me is None:
            return _to_login(request)
        admin = me.admin
        if admin.password_change_required and page.name != "password":
            return RedirectResponse("/password", status_code=303)
        t = Translator(await _locale(request, services, admin.id))

        def refusal(status: int) -> Response:
            resp = render(
                "forbidden.html",
                t,
                me=admin.to_json(),
                csrf=me.csrf_token,
                nav=_nav(admin.role),
                page=page,
                home=HOME[admin.role],
            )
            resp.status_code = status
            return resp

        if admin.role not in page.roles:
            return refusal(403)
        if "member_id" in request.path_params:
            # a member outside the caller's subtree is "not found", as the API says
            view = await services.federation.current()
            try:
                view.federation.require_within(me.scope, int(request.path_params["member_id"]))
            except FederationError:
                return refusal(404)
        return render(
            f"{page.name}.html",
            t,
            me=admin.to_json(),
            csrf=me.csrf_token,
            nav=_nav(admin.role),
            page=page,
            params=dict(request.path_params),
            home=HOME[admin.role],
        )

    return handler


def _login_handler(services: Services) -> Callable[[Request], Awaitable[Response]]:
    async def login(request: Request) -> Response:
        me = await _principal(request, services)
        nxt = safe_next(request.query_params.get("next", ""))
        if me is not None:
            if me.admin.password_change_required:
                return RedirectResponse("/password", status_code=303)
            return RedirectResponse(nxt or HOME[me.admin.role], status_code=303)
        t = Translator(await _locale(request, services, None))
        return render(
            "login.html",
            t,
            me=None,
            csrf=None,
            nav=[],
            next=nxt,
            mail_enabled=await mail_ready(services, request),
        )

    return login


# pagesauth: the public pages of password reset by mail
PUBLIC_PAGES: tuple[Page, ...] = (
    Page("forgot", "/forgot", frozenset(), N_("Forgot password"), False),
    Page("reset", "/reset-password", frozenset(), N_("Set a new password"), False),
)
"""Open without a session: asking for a reset link, and the page the link opens."""


def _public_handler(page: Page, services: Services) -> Callable[[Request], Awaitable[Response]]:
    async def public(request: Request) -> Response:
        t = Translator(await _locale(request, services, None))
        return render(
            f"{page.name}.html",
            t,
            me=None,
            csrf=None,
            nav=[],
            page=page,
            mail_enabled=await mail_ready(services, request),
        )

    return public


def page_routes(services: Services) -> list[Route | Mount]:
    """The login at ``/``, every page of ``PAGES``, and ``/static``."""
    routes: list[Route | Mount] = [Route("/", _login_handler(services))]
    routes += [Route(p.path, _page_handler(p, services), name=p.name) for p in PAGES]
    routes += [Route(p.path, _public_handler(p, services), name=p.name) for p in PUBLIC_PAGES]
    routes.append(Mount("/static", StaticFiles(directory=STATIC), name="static"))
    return routes
