"""The idle timeout against pages that refresh themselves: a request marked
``X-Fedhub-Background: 1`` (topology polling, a job's progress) is authenticated but
does not restart the idle timer; anything else the admin does restarts it. Time moves
by an injected clock, never by waiting."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.dashboards.conftest import Api

BACKGROUND = {"X-Fedhub-Background": "1"}


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now().astimezone()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


def _clocked(app) -> Clock:
    clock = Clock()
    sessions = app.state.services.sessions
    sessions.clock = clock
    assert sessions.idle == timedelta(minutes=30)
    return clock


def test_polling_does_not_keep_an_idle_session_alive(client, app):
    clock = _clocked(app)
    a = Api(client)
    assert a.login("admin", "123456").status_code == 200
    for _ in range(5):  # 25 minutes of a page polling on its own: still logged in...
        clock.advance(minutes=5)
        assert a.get("/auth/session", headers=BACKGROUND).status_code == 200
    clock.advance(minutes=5, seconds=1)  # ...but 30 min after the admin's last act: over
    r = a.get("/auth/session", headers=BACKGROUND)
    assert (r.status_code, r.json()["error"]["code"]) == (401, "session_expired")
    # and gone for the admin's own requests too
    assert a.get("/auth/session").status_code == 401


def test_the_admins_own_requests_restart_the_idle_timer(client, app):
    clock = _clocked(app)
    a = Api(client)
    assert a.login("admin", "123456").status_code == 200
    for _ in range(4):  # an admin at work every 20 minutes stays logged in for 80
        clock.advance(minutes=20)
        assert a.get("/auth/session").status_code == 200
    clock.advance(minutes=29)
    assert a.get("/auth/session", headers=BACKGROUND).status_code == 200


def test_only_the_exact_marker_counts_as_background(client, app):
    """Any other value is an ordinary request (it restarts the timer)."""
    clock = _clocked(app)
    a = Api(client)
    assert a.login("admin", "123456").status_code == 200
    clock.advance(minutes=20)
    assert a.get("/auth/session", headers={"X-Fedhub-Background": "yes"}).status_code == 200
    clock.advance(minutes=20)
    assert a.get("/auth/session", headers=BACKGROUND).status_code == 200


def test_background_requests_still_need_csrf_for_changes(client, app):
    _clocked(app)
    a = Api(client)
    assert a.login("admin", "123456").status_code == 200
    r = a.request("PUT", "/preferences", csrf=False, headers=BACKGROUND, json={"locale": "en"})
    assert (r.status_code, r.json()["error"]["code"]) == (403, "csrf_failed")
