"""wss:// links: a member server with a self-signed certificate is linked only when the
hub trusts that certificate (LinkSettings.ca_file); otherwise the link says why."""

from __future__ import annotations

import dataclasses
import ssl
from pathlib import Path

import pytest

from controllers.manager import LinkManager
from emulator.federation import build_demo_federation, serve_federation
from sip.tls import self_signed
from tests.controllers.linkkit import QUICK, configs, live_for, until

pytestmark = pytest.mark.timeout(60)

SPECS = build_demo_federation(7, cities=1, counties=1, townships=1, villages=(1, 1))[:2]


def _server_context(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    cert, key = self_signed("member.example", ("127.0.0.1",))
    (tmp_path / "m.crt").write_bytes(cert)
    (tmp_path / "m.key").write_bytes(key)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "m.crt", tmp_path / "m.key")
    return ctx, tmp_path / "m.crt"


async def test_trusted_certificate_links(tmp_path: Path) -> None:
    ctx, cert = _server_context(tmp_path)
    async with await serve_federation(SPECS, ssl=ctx) as running:
        assert all(u.startswith("wss://") for u in running.urls.values())
        settings = dataclasses.replace(QUICK, ca_file=str(cert))
        manager = LinkManager(configs(SPECS, running.urls), live=live_for(SPECS), settings=settings)
        await manager.start()
        try:
            await until(manager.all_up, what="wss links up", watch=(manager,))
            assert {s["state"] for s in manager.status()} == {"up"}
        finally:
            await manager.stop()


async def test_untrusted_certificate_is_refused_with_reason(tmp_path: Path) -> None:
    ctx, _ = _server_context(tmp_path)
    async with await serve_federation(SPECS, ssl=ctx) as running:
        manager = LinkManager(configs(SPECS, running.urls), live=live_for(SPECS), settings=QUICK)
        await manager.start()
        try:

            def refused() -> bool:
                return all(
                    s["state"] != "up" and "certificate" in str(s["last_error"]).lower()
                    for s in manager.status()
                )

            await until(refused, what="certificate refusal reported", watch=(manager,))
        finally:
            await manager.stop()
