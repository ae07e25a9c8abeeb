"""`fedhub emulate` (emulator.cli) in its own process, linked to by a hub LinkManager."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import pytest

from controllers.config import MemberLinkConfig
from controllers.manager import LinkManager
from emulator import cli
from tests.controllers.linkkit import FAST, QUICK, live_for, until

pytestmark = pytest.mark.timeout(60)


def test_parser_defaults() -> None:
    p = argparse.ArgumentParser()
    cli.configure_parser(p)
    args = p.parse_args([])
    assert (args.members, args.host, args.port, args.activity) == (0, "127.0.0.1", 0, "demo")
    assert len(cli.build_specs(args)) > 30
    args = p.parse_args(["--members", "7", "--venues", "20"])
    assert sum(len(s.venues) for s in cli.build_specs(args)) == 20


def test_refuses_a_non_loopback_host() -> None:
    p = argparse.ArgumentParser()
    cli.configure_parser(p)
    assert cli.run(p.parse_args(["--members", "1", "--host", "0.0.0.0"])) == 2


async def test_emulate_process_serves_members_to_a_hub(tmp_path: Path) -> None:
    specs_file = tmp_path / "specs.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "emulator",
        "--members",
        "4",
        "--activity",
        "flood",
        "--events-per-second",
        "200",
        "--duration",
        "20",
        "--specs-out",
        str(specs_file),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(await asyncio.wait_for(proc.stdout.readline(), 15))
        assert ready["ready"] and ready["members"] == 4
        specs = json.loads(specs_file.read_text())
        cfgs = [
            MemberLinkConfig(i, s["domain"], s["url"], s["username"], FAST.hash(s["password"]))
            for i, s in enumerate(specs, 1)
        ]
        p = argparse.ArgumentParser()
        cli.configure_parser(p)
        live = live_for(cli.build_specs(p.parse_args(["--members", "4"])))
        manager = LinkManager(cfgs, live=live, settings=QUICK)
        await manager.start()
        try:
            await until(manager.all_up, 10, "links to the emulate process", watch=(manager,))
            await until(
                lambda: sum(s["events"] for s in manager.status()) > 20,
                10,
                "events",
                watch=(manager, live),
            )
            assert live.summary().total.venues_total == 20
        finally:
            await manager.stop()
    finally:
        proc.terminate()
        assert await asyncio.wait_for(proc.wait(), 10) == 0
