"""Secrets: URL credentials injected at open time and redacted everywhere else."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamer.credentials import read_secret, redact, with_credentials
from streamer.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rtsp://admin:hunter2@10.0.0.5:554/s1", "rtsp://admin:***@10.0.0.5:554/s1"),
        ("open rtsp://u:p%40ss@cam/ and http://x:y@h/", "open rtsp://u:***@cam/ and http://x:***@h/"),
        ("rtsp://cam.local/stream", "rtsp://cam.local/stream"),
        ("rtsp://user@cam/", "rtsp://user@cam/"),
        ("/videos/a:b@c.mp4", "/videos/a:b@c.mp4"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_with_credentials_encodes_and_replaces() -> None:
    url = with_credentials("rtsp://old:pw@cam:554/live?x=1", "ad min", "p@ss:w/rd")
    assert url == "rtsp://ad%20min:p%40ss%3Aw%2Frd@cam:554/live?x=1"
    assert "p@ss" not in redact(url) and redact(url).startswith("rtsp://ad%20min:***@cam")
    assert with_credentials("rtsp://cam/", None, None) == "rtsp://cam/"


def test_read_secret_from_file_and_credentials_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pw").write_text("s3cret\n")
    assert read_secret("streams[a]", file="pw", credential=None, base=tmp_path) == "s3cret"
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "cam1").write_text("from-systemd")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    assert read_secret("streams[a]", file=None, credential="cam1", base=tmp_path) == "from-systemd"
    with pytest.raises(ConfigError, match="cannot read secret file"):
        read_secret("streams[a]", file=None, credential="nope", base=tmp_path)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    with pytest.raises(ConfigError, match="needs \\$CREDENTIALS_DIRECTORY"):
        read_secret("streams[a]", file=None, credential="cam1", base=tmp_path)
