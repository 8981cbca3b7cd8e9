"""Secrets: read from files or ``$CREDENTIALS_DIRECTORY``, and kept out of every output.

``redact`` is applied to anything that may carry a source URL before it reaches a log line,
``streamer check`` output or a status message; secrets never become metric labels at all.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from streamer.errors import ConfigError

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:@/\s]*):(?P<pw>[^@/\s]*)@")


def redact(text: str) -> str:
    """Replace the password of every ``scheme://user:password@`` in ``text`` with ``***``."""
    return _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)


def read_secret(name: str, *, file: str | None, credential: str | None, base: Path) -> str:
    """A secret from a file (relative to ``base``) or a systemd credential named ``credential``."""
    if credential is not None:
        directory = os.environ.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise ConfigError(f"{name}: credential {credential!r} needs $CREDENTIALS_DIRECTORY (LoadCredential=)")
        path = Path(directory) / credential
    elif file is not None:
        path = Path(file) if Path(file).is_absolute() else base / file
    else:
        raise ConfigError(f"{name}: no secret source given")
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read secret file {path}: {exc.strerror}") from None


def with_credentials(url: str, username: str | None, password: str | None) -> str:
    """``url`` with ``username``/``password`` put into its authority (both percent-encoded)."""
    if username is None and password is None:
        return url
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    user = quote(username or "", safe="")
    auth = f"{user}:{quote(password, safe='')}" if password is not None else user
    return urlunsplit((parts.scheme, f"{auth}@{host}", parts.path, parts.query, parts.fragment))
