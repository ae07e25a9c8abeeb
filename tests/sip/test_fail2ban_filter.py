"""The documented fail2ban filter acts on the SIP rejection lines and on nothing else.

Peer text can reach other loggers' lines (a member's reason, a user agent quoted in
a message); the filter is anchored to the ``fedhub.sip`` logger's line format, so the
same words in the middle of another line ban nobody.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from asyncio.subprocess import PIPE
from pathlib import Path

import pytest

from hub.logtext import LOG_FORMAT
from ops.logs import LineFormatter
from sip.service import RedirectService
from tests.sip.conftest import make_table, request
from tests.sip.fail2ban import banned_host, filter_conf
from tests.sip.net import UdpClient, settings

FORGED = "SIP reject from 203.0.113.9:5060 transport=udp reason=scanner count=1"


def _line(logger: str, level: int, msg: str, *args: object) -> str:
    record = logging.LogRecord(logger, level, __file__, 1, msg, args, None)
    return logging.Formatter(LOG_FORMAT).format(record)


async def _real_rejection_lines(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the running redirector logs when a scanner knocks, in the process format."""
    caplog.set_level(logging.WARNING, logger="fedhub.sip")
    svc = RedirectService(make_table())
    await svc.start(settings(tmp_path))
    try:
        client = await UdpClient.open("127.0.0.5")
        client.send(request("OPTIONS", extra="User-Agent: friendly-scanner\r\n"), svc.ports["udp"])
        client.send(request("OPTIONS"), svc.ports["udp"])  # a barrier: answered in order
        assert (await client.receive()).status == 200
        client.close()
    finally:
        await svc.stop()
    records = [r for r in caplog.records if r.name == "fedhub.sip"]
    assert len(records) == 1
    # as the processes write it (stderr), and as the hub's own sip.log holds it
    return [
        logging.Formatter(LOG_FORMAT).format(records[0]),
        LineFormatter("hub-1").format(records[0]),
    ]


OTHER_LOGGERS = [
    _line("fedhub.links", logging.WARNING, "member 3 not linked: %s", FORGED),
    _line("fedhub.audit", logging.INFO, "login refused for %r", FORGED),
    _line("fedhub.links", logging.WARNING, "member 3 said %s", "x\\n2026-11-30 " + FORGED),
    # the logger's own name, not at the start of the message
    _line("fedhub.links", logging.WARNING, "WARNING fedhub.sip: %s", FORGED),
    _line("fedhub.links", logging.WARNING, "WARNING hub-1 sip fedhub.sip: %s", FORGED),
    # a line not written by the format at all (no time stamp at its start)
    "garbage 2026-11-30 12:00:00,000 WARNING fedhub.sip: " + FORGED,
]


async def test_documented_filter_matches_real_rejections_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines = await _real_rejection_lines(tmp_path, caplog)
    for line in lines:
        assert "reason=scanner" in line
        assert banned_host(line) == "127.0.0.5", line
    for other in OTHER_LOGGERS:
        assert FORGED in other.replace("\\n", "")
        assert banned_host(other) is None, other


async def test_fail2ban_itself_agrees(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The real fail2ban-regex (apt package fail2ban), given the doc's filter, bans on
    the real line only."""
    lines = await _real_rejection_lines(tmp_path, caplog)
    log = tmp_path / "hub.log"
    log.write_text("\n".join([*lines, *OTHER_LOGGERS]) + "\n")
    conf = tmp_path / "fedhub-sip.conf"
    conf.write_text(filter_conf())
    fail2ban_regex = shutil.which("fail2ban-regex")
    assert fail2ban_regex, "install the fail2ban package (.ci/run APT_PACKAGES)"
    proc = await asyncio.create_subprocess_exec(
        fail2ban_regex, "--print-all-matched", str(log), str(conf), stdout=PIPE, stderr=PIPE
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, stderr
    out = stdout.decode()
    assert "Failregex: 2 total" in out, out
    matched = out.split("Matched line(s):")[1].split("Missed line(s):")[0]
    assert "127.0.0.5" in matched and "203.0.113.9" not in matched, out
