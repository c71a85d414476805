"""Server settings: where data lives, where to listen, who may connect, what to accept.

Validation lives here, in one place: a server that listens beyond this machine without
a token is refused before anything starts.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, fields, replace
from pathlib import Path

from genlab.core.errors import InvalidRequest
from genlab.web.bridge import MULTIPROCESS

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
DEFAULT_PORT = 7860  # A1111's port, so its clients find the server where they expect it
DEFAULT_DATA = Path("genlab-data")
# 20 MB covers a 4096x4096 PNG of ordinary content; anything larger is refused
# before it is decoded.
DEFAULT_UPLOAD_BYTES = 20 * 1024 * 1024
DEFAULT_UPLOAD_PIXELS = 4096 * 4096
MAX_TOKEN_FILE_BYTES = 4096  # a token is a line; a bigger file is the wrong file


@dataclass(frozen=True)
class Settings:
    data_dir: Path = DEFAULT_DATA
    db_url: str | None = None  # None: a SQLite file inside data_dir
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token: str | None = None  # None: no authentication (only allowed on loopback)
    max_upload_bytes: int = DEFAULT_UPLOAD_BYTES
    max_upload_pixels: int = DEFAULT_UPLOAD_PIXELS
    thumbnail_size: int = 256
    preview_every: int = 5  # decode a preview every this many steps (decoding costs)
    max_attempts: int = 2  # a job interrupted by a crash is run once more, then failed
    cookie_secure: bool = False  # set behind HTTPS so cookies never travel in clear
    read_threads: int = 2  # the gallery's database reads (see Studio.read)
    workers: int = 1  # server processes; one of them runs the jobs (see bridge)

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        if self.token is not None and len(self.token) < 8:
            raise InvalidRequest("token", "<hidden>", "must be at least 8 characters")
        if self.token is not None and not all("!" <= c <= "~" for c in self.token):
            # It travels in an Authorization header, which only carries ASCII reliably.
            raise InvalidRequest("token", "<hidden>", "must be printable ASCII without spaces")
        if self.host not in LOOPBACK_HOSTS and not self.token:
            raise InvalidRequest(
                "host",
                self.host,
                "listening beyond this machine needs a token (--token SECRET or --token auto)",
            )
        if not 1 <= self.port <= 65535:
            raise InvalidRequest("port", self.port, "must be from 1 to 65535")
        positive = ("max_upload_bytes", "max_upload_pixels", "thumbnail_size", "preview_every")
        for name in (*positive, "read_threads", "workers"):
            if getattr(self, name) < 1:
                raise InvalidRequest(name, getattr(self, name), "must be a positive integer")
        if self.workers > 1 and not MULTIPROCESS:
            raise InvalidRequest("workers", self.workers, "1 on this system (no file locks)")

    @property
    def database_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{(self.data_dir / 'genlab.db').resolve()}"

    @property
    def max_body_bytes(self) -> int:
        """The largest request body: one upload, base64-encoded (4/3), plus room for
        the JSON fields around it."""
        return self.max_upload_bytes * 4 // 3 + 64 * 1024

    def with_changes(self, **changes: object) -> Settings:
        return replace(self, **changes)

    def to_env(self) -> str:
        """All settings as the JSON that `from_env` reads from GENLAB_SETTINGS: how
        `genlab serve --workers N` hands them to its worker processes."""
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return json.dumps({**values, "data_dir": str(self.data_dir)})

    @classmethod
    def from_env(cls) -> Settings:
        """Settings from GENLAB_SETTINGS (all of them, as `to_env` writes) or GENLAB_*
        variables, for `uvicorn --factory` and workers that cannot take arguments."""
        env = os.environ
        if env.get("GENLAB_SETTINGS"):
            return cls(**json.loads(env["GENLAB_SETTINGS"]))
        return cls(
            data_dir=Path(env.get("GENLAB_DATA", str(DEFAULT_DATA))),
            db_url=env.get("GENLAB_DB_URL") or None,
            host=env.get("GENLAB_HOST", "127.0.0.1"),
            port=int(env.get("GENLAB_PORT", str(DEFAULT_PORT))),
            token=env.get("GENLAB_TOKEN") or None,
        )


def resolve_token(value: str | None) -> str | None:
    """`--token auto` becomes a fresh random token; anything else is used as given."""
    if value == "auto":
        return secrets.token_urlsafe(24)
    return value or None


def read_token_file(path: Path) -> str:
    """The token kept in a file (so that it is not on the command line, which every
    user can list), without the whitespace around it."""
    with Path(path).open("rb") as handle:
        data = handle.read(MAX_TOKEN_FILE_BYTES + 1)
    if len(data) > MAX_TOKEN_FILE_BYTES:
        raise InvalidRequest(
            "token_file", str(path), f"must hold one token of at most {MAX_TOKEN_FILE_BYTES} bytes"
        )
    try:
        token = data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise InvalidRequest("token_file", str(path), "must hold an ASCII token") from None
    if not token:
        raise InvalidRequest("token_file", str(path), "is empty; it must hold the token")
    return token
