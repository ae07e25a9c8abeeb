"""``fedhub demo``: the hub plus an emulated 5-level federation with live meetings.

One process: the hub (SQLite in the data directory, links in-process), the reference
emulator serving every member on one loopback port, and scripted activity. The
members are registered in storage with their domains, credentials and number ranges,
and bound to the emulator's link URLs, so the hub links to them as it would to real
member servers. Registration is idempotent: starting again on the same data directory
reuses what is stored (a member is matched by its primary domain).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from emulator.activity import Activity
from emulator.federation import build_demo_federation, serve_federation
from emulator.spec import EmulatedMemberSpec
from hub.numbering import NumberPlanError
from hub.version import fedhub_version
from ops.sip_sidecar import add_port_flags, describe, overrides_from
from storage.passwords import hash_password_async, verify_password_async

if TYPE_CHECKING:
    from dashboards.services import Services

log = logging.getLogger("fedhub.demo")

SIP_PORT_BASE = 25060
"""Emulated member servers are given SIP addresses 127.0.0.1:25060+i (nothing listens:
the redirector only needs somewhere to send each device)."""


@dataclass(frozen=True)
class Registered:
    created: int
    updated: int
    ranges_added: int


async def register_federation(
    services: Services, specs: list[EmulatedMemberSpec], urls: dict[str, str]
) -> Registered:
    """Make storage hold ``specs`` (parents first) bound to ``urls``; keep what exists."""
    store = services.federation
    ids: dict[str, int] = {}
    created = updated = ranges_added = 0
    for spec in specs:
        view = await store.current()
        existing = view.federation.by_domain(spec.domain)
        url = urls[spec.key]
        if existing is None:
            sip_port = SIP_PORT_BASE + specs.index(spec)
            m = await store.create_member(
                None,
                parent_id=ids[spec.parent_key] if spec.parent_key else None,
                domain=spec.domain,
                display_name=spec.display_name,
                username=spec.username,
                password_hash=await hash_password_async(spec.password),
                remark="emulated by fedhub demo",
                server_url=url,
                sip_host="127.0.0.1",
                sip_port=sip_port,
            )
            ids[spec.key] = m.id
            created += 1
        else:
            ids[spec.key] = existing.id
            changes: dict[str, object] = {}
            if view.servers[existing.id].server_url != url:
                changes["server_url"] = url
            if view.servers[existing.id].sip_host is None:
                changes["sip_host"] = "127.0.0.1"
                changes["sip_port"] = SIP_PORT_BASE + specs.index(spec)
            row = await store.member_row(existing.id)
            if row is None or not await verify_password_async(row.password_hash, spec.password):
                changes["password_hash"] = await hash_password_async(spec.password)
            if changes:
                await store.update_member(None, existing.id, changes)
                updated += 1
        view = await store.current()
        for r in spec.ranges:
            owner = view.plan.range_for(r.start)
            if owner is not None and owner.member_id == ids[spec.key]:
                continue
            try:
                await store.add_range(None, ids[spec.key], type=r.type, start=r.start, end=r.end)
                ranges_added += 1
            except NumberPlanError as e:
                log.warning("demo range %s-%s of %s not added: %s", r.start, r.end, spec.domain, e)
    return Registered(created, updated, ranges_added)


async def _wait_for_links(services: Services, wait_s: float) -> int:
    """Wait until every link is up (or ``wait_s`` passed); returns how many are up."""
    assert services.links is not None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        status = services.links.manager.status()
        up = sum(1 for s in status if s.get("state") == "up")
        if (status and up == len(status)) or loop.time() > deadline:
            return up
        await asyncio.sleep(0.2)


async def run_demo(args: argparse.Namespace) -> int:
    # The web stack is imported here, not at the top: `fedhub sip` builds the same
    # command-line parser and must not load Starlette (see the import contracts).
    import uvicorn

    from dashboards.app import create_app
    from dashboards.live_ws import SERVER_OPTIONS
    from dashboards.services import HubConfig
    from ops.hub import bootstrap, build_services

    data: Path = args.data.resolve()
    if args.sip_host is None:  # a demo listens on loopback unless told otherwise
        args.sip_host = "127.0.0.1"
    config = HubConfig(
        data_dir=data,
        db_url=args.db_url,
        sip=not args.no_sip,
        sip_overrides=overrides_from(args, data, "sip-"),
        link_networks=("127.0.0.0/8", "::1/128"),  # the emulated members are on loopback
    )
    specs = build_demo_federation(seed=args.seed, cities=args.cities)
    activity = Activity() if not args.quiet else Activity(0, 0, 0, 0)
    running = await serve_federation(
        specs, "127.0.0.1", args.emulator_port, seed=args.seed, activity=activity
    )
    services = build_services(config)
    try:
        await bootstrap(services)
        reg = await register_federation(services, specs, running.urls)
        app = create_app(services)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=args.host,
                port=args.port,
                log_level="warning",
                lifespan="on",
                **SERVER_OPTIONS,
            )
        )
        serving = asyncio.create_task(server.serve())
        while not server.started:
            if serving.done():
                return 1
            await asyncio.sleep(0.05)
        up = await _wait_for_links(services, 20.0)
        admin = await services.admins.credentials("admin")
        login = (
            "admin / 123456 (you will be asked to change it)"
            if admin is None or admin[0].password_change_required
            else "admin / the password you set"
        )
        venues = sum(len(s.venues) for s in specs)
        sip_line = describe(services.redirect.status()) if services.redirect else "off"
        url = f"http://{args.host}:{args.port}/"
        print(
            f"\nfedhub {fedhub_version()} demo is running\n"
            f"  API:       {url}api/v1/  (OpenAPI: {url}api/v1/openapi.json)\n"
            f"  login:     {login}\n"
            f"  data:      {data}\n"
            f"  members:   {len(specs)} on 5 levels ({reg.created} registered now, "
            f"{reg.updated} updated), {venues} venues\n"
            f"  links:     {up}/{len(specs)} up; emulator on port {running.server.port}\n"
            f"  SIP:       redirector {sip_line} (e.g. REGISTER sip:{specs[1].domain})\n"
            f"Stop with Ctrl-C; run again on the same --data to continue.\n",
            flush=True,
        )
        await serving
        return 0
    finally:
        await running.close()
        await services.db.close()


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        type=Path,
        default=Path("var/demo"),
        help="data directory (default ./var/demo; reused when run again)",
    )
    p.add_argument("--db-url", default=None, help="database URL (default: SQLite in --data)")
    p.add_argument(
        "--host", default="127.0.0.1", help="address of the HTTP API (default 127.0.0.1)"
    )
    p.add_argument("--port", type=int, default=8080, help="HTTP API port (default 8080)")
    p.add_argument(
        "--emulator-port",
        type=int,
        default=8091,
        help="loopback port of the emulated member servers (default 8091)",
    )
    p.add_argument("--seed", type=int, default=1, help="same seed, same federation")
    p.add_argument("--cities", type=int, default=3, help="cities under the province (default 3)")
    p.add_argument("--quiet", action="store_true", help="no scripted activity")
    p.add_argument("--no-sip", action="store_true", help="do not run the SIP redirector")
    add_port_flags(p, "sip-")


def run(args: argparse.Namespace) -> int:
    try:
        import uvloop

        return uvloop.run(run_demo(args))
    except KeyboardInterrupt:
        print("demo stopped", file=sys.stderr)
        return 0
