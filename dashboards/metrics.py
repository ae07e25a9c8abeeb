"""``/metrics``: the hub in the Prometheus text format (prometheus-client).

Role: one registry per hub (never the process-global one, so several apps in a test
process do not collide). Counters that the live core already keeps (events in,
frames and bytes out, queue drops, resnapshots, dashboards, links by state, journal)
are read at scrape time by a collector; command latency and one-click call durations
are histograms observed where they happen.

Access is a setting (section ``live``, ``metrics_access``): ``loopback`` (default)
answers only peers on 127.0.0.1/::1; ``token`` also wants ``Authorization: Bearer
fh_…`` of an account that may read the whole federation. Everyone else gets 403/401.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dashboards.errors import ApiError, error_response

if TYPE_CHECKING:
    from dashboards.services import Services

LOOPBACK = frozenset({"127.0.0.1", "::1"})


class HubMetrics:
    """The registry of one hub and the histograms observed in place."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.command_seconds = Histogram(
            "fedhub_command_seconds",
            "Conference-control command latency, from sending to its one result",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.call_all_seconds = Histogram(
            "fedhub_call_all_seconds",
            "One-click call duration, from the request until every member settled",
            buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120),
            registry=self.registry,
        )
        self._bound = False

    def bind(self, services: Services) -> None:
        """Register the scrape-time collector for ``services`` (once)."""
        if not self._bound:
            self.registry.register(_Live(services))
            self._bound = True

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Live(Collector):
    def __init__(self, services: Services) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        svc = self.services
        links = GaugeMetricFamily("fedhub_links", "Member links by state", labels=["state"])
        states: Counter[str] = Counter()
        if svc.links is not None:
            states.update(str(s.get("state")) for s in svc.links.status())
        for state in ("up", "connecting", "down", "stopped", "misconfigured"):
            links.add_metric([state], states.get(state, 0))
        yield links
        hub = svc.livehub
        if hub is None:
            return
        c = hub.fanout.counters
        simple: list[tuple[str, str, Any, type[Any]]] = [
            (
                "fedhub_events_in",
                "Cascade deltas received by the fan-out",
                c.deltas_in,
                CounterMetricFamily,
            ),
            (
                "fedhub_frames_out",
                "Frames handed to dashboard connections",
                c.frames_out,
                CounterMetricFamily,
            ),
            (
                "fedhub_bytes_out",
                "Bytes of frames handed to dashboards",
                c.bytes_out,
                CounterMetricFamily,
            ),
            (
                "fedhub_queue_drops",
                "Dashboard queues that overflowed (deltas dropped)",
                c.overflows,
                CounterMetricFamily,
            ),
            (
                "fedhub_resnapshots",
                "Fresh snapshots sent to dashboards that fell behind",
                c.resnapshots,
                CounterMetricFamily,
            ),
            (
                "fedhub_closed_behind",
                "Dashboards closed (1013) for falling behind too often",
                c.closed_behind,
                CounterMetricFamily,
            ),
            (
                "fedhub_dashboards_connected",
                "Open /ws/live connections",
                hub.connections,
                GaugeMetricFamily,
            ),
        ]
        if hub.journal is not None:
            j = hub.journal
            simple += [
                (
                    "fedhub_journal_written",
                    "Journal entries written",
                    j.written,
                    CounterMetricFamily,
                ),
                (
                    "fedhub_journal_dropped",
                    "Journal entries dropped (buffer full)",
                    j.dropped,
                    CounterMetricFamily,
                ),
                (
                    "fedhub_journal_pending",
                    "Journal entries waiting to be written",
                    j.pending,
                    GaugeMetricFamily,
                ),
            ]
        for name, doc, value, family in simple:
            yield family(name, doc, value=value)


def allowed(request: Request, services: Services) -> ApiError | None:
    """None if the caller may read /metrics, else the refusal."""
    hub = services.livehub
    access = hub.options.get("metrics_access", "loopback") if hub is not None else "loopback"
    peer = request.client.host if request.client else ""
    if access == "loopback":
        if peer in LOOPBACK:
            return None
        return ApiError(403, "metrics_loopback_only", "/metrics answers loopback peers only")
    return None  # "token": checked by the caller (needs the token store)


async def metrics(request: Request) -> Response:
    services: Services = request.app.state.services
    refusal = allowed(request, services)
    hub = services.livehub
    if refusal is None and hub is not None and hub.options.get("metrics_access") == "token":
        refusal = await _token_refusal(request, services)
    if refusal is not None:
        return error_response(refusal)
    if hub is None:
        return error_response(ApiError(404, "live_disabled", "this node has no live hub"))
    hub.metrics.bind(services)
    return Response(hub.metrics.render(), media_type=CONTENT_TYPE_LATEST)


async def _token_refusal(request: Request, services: Services) -> ApiError | None:
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret:
        return ApiError(401, "unauthenticated", "use 'Authorization: Bearer <token>'")
    token = await services.tokens.authenticate(secret.strip())
    admin = None if token is None else await services.admins.get(token.admin_id)
    if admin is None or admin.disabled:
        return ApiError(401, "unauthenticated", "the API token is unknown, revoked or expired")
    if admin.member_id is not None:
        return ApiError(403, "outside_scope", "metrics cover the whole federation")
    return None


def metrics_route() -> Route:
    return Route("/metrics", metrics)
