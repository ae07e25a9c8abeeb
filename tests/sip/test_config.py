"""The JSON config of the stand-alone process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sip.config import load_config, number_plan
from sip.service import RedirectSettings


def test_load(tmp_path: Path) -> None:
    path = tmp_path / "redirect.json"
    path.write_text(
        json.dumps(
            {
                "settings": {
                    "host": "127.0.0.1",
                    "udp_port": 0,
                    "tls_port": None,
                    "rate": 5,
                    "cert_dir": str(tmp_path),
                },
                "servers": [{"member_id": 7, "domain": "A.example.com", "host": "127.0.0.7"}],
                "ranges": [{"member_id": 7, "start": "100", "end": "199"}],
            }
        )
    )
    settings, table = load_config(path)
    assert settings == RedirectSettings(
        host="127.0.0.1", udp_port=0, tls_port=None, rate=5, cert_dir=tmp_path
    )
    assert table.by_domain("a.example.com") is not None
    assert table.by_number("150") == table.by_member(7)
    assert table.by_number("1500") is None


@pytest.mark.parametrize(
    "data",
    [
        {"settings": {"bogus": 1}},
        {"settings": {"host": "not-an-ip"}},
        {"settings": {"udp_port": 70000}},
        {"servers": [{"member_id": 1}]},
        {"ranges": [{"member_id": 1, "start": "10", "end": "5"}]},
        {"ranges": [{"member_id": 1, "start": "10", "end": "200"}]},
        {
            "ranges": [
                {"member_id": 1, "start": "10", "end": "20"},
                {"member_id": 2, "start": "15", "end": "30"},
            ]
        },
        {"ranges": [{"member_id": 1, "start": "10", "end": "20", "type": "phone"}]},
        {"ranges": [{"member_id": 1, "start": "1" * 16, "end": "2" * 16}]},
        [],
    ],
)
def test_rejects(tmp_path: Path, data: object) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError):
        load_config(path)


def test_range_resolver_boundaries() -> None:
    resolve = number_plan(
        [
            {"member_id": 1, "start": "1000", "end": "1999"},
            {"member_id": 2, "start": "2000", "end": "2000", "type": "vmr"},
            {"member_id": 3, "start": "05", "end": "09"},
        ]
    ).resolve
    assert [resolve(n) for n in ["0999", "1000", "1999", "2000", "2001", "05", "5", "09"]] == [
        None,
        1,
        1,
        2,
        None,
        3,
        None,
        3,
    ]


def test_settings_validation() -> None:
    for bad in (
        {"name": " "},
        {"rate": -1},
        {"burst": 0},
        {"max_connections": 0},
        {"idle_timeout": 0},
        {"contact_expires": -5},
        {"max_message_size": 10},
        {"tls_port": -1},
    ):
        with pytest.raises(ValueError):
            RedirectSettings(**bad)  # type: ignore[arg-type]
