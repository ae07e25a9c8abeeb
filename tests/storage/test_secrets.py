"""Secrets sealed with the node's key file: made once (0600), useless with another key."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.secrets import KEY_FILE, SecretBox, SecretUnreadable


def test_key_file_made_on_first_use_and_kept(tmp_path: Path) -> None:
    box = SecretBox.for_data_dir(tmp_path)
    assert not (tmp_path / KEY_FILE).exists()  # nothing written until a secret is sealed
    sealed = box.seal("Sm7p-secret!")
    assert "Sm7p-secret!" not in sealed
    assert (tmp_path / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert SecretBox.for_data_dir(tmp_path).open(sealed) == "Sm7p-secret!"


def test_another_key_or_tampering_cannot_open(tmp_path: Path) -> None:
    sealed = SecretBox.for_data_dir(tmp_path / "a").seal("Sm7p-secret!")
    with pytest.raises(SecretUnreadable):
        SecretBox.for_data_dir(tmp_path / "b").open(sealed)
    box = SecretBox.for_data_dir(tmp_path / "a")
    with pytest.raises(SecretUnreadable):
        box.open(sealed[:-4] + "AAAA")
    with pytest.raises(SecretUnreadable):
        box.open("not a token")
