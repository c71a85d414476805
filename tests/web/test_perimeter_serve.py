"""`genlab serve` and the data folder: a token kept off the command line, files only
their owner can read."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from genlab.cli.serve import serve
from genlab.web.app import create_app
from genlab.web.settings import Settings

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict]]:
    """`genlab serve` up to the point where uvicorn would run: what it was given, and
    the umask then. The test process's own umask is put back afterwards."""
    import uvicorn

    runs: list[dict] = []

    def run(app, **options) -> None:
        umask = os.umask(0o022)
        os.umask(umask)
        runs.append({"app": app, "umask": umask, **options})

    monkeypatch.setattr(uvicorn, "run", run)
    monkeypatch.delenv("GENLAB_TOKEN", raising=False)
    umask = os.umask(0o022)
    try:
        yield runs
    finally:
        os.umask(umask)


def invoke(*args: str, env: dict[str, str] | None = None):
    app = typer.Typer()
    app.command()(serve)
    return CliRunner().invoke(app, list(args), env=env)


def token_of(run: dict) -> str | None:
    return run["app"].state.studio.settings.token


def test_the_data_folder_is_made_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    (data / "genlab.db").touch()
    outside = tmp_path / "shared.txt"
    outside.touch()
    (data / "link").symlink_to(outside)
    for path in (data, data / "images"):
        path.chmod(0o755)
    (data / "genlab.db").chmod(0o644)
    outside.chmod(0o644)
    with TestClient(create_app(Settings(data_dir=data))) as client:
        assert client.get("/api/jobs").status_code == 200
    assert mode(data) == 0o700
    assert mode(data / "images") == mode(data / "thumbs") == mode(data / "run") == 0o700
    assert mode(data / "genlab.db") == 0o600
    assert mode(outside) == 0o644  # a link is not followed


def test_a_sqlite_database_outside_the_data_folder_is_made_private(tmp_path: Path) -> None:
    database = tmp_path / "elsewhere.db"
    database.touch()
    database.chmod(0o644)
    settings = Settings(data_dir=tmp_path / "data", db_url=f"sqlite:///{database}")
    with TestClient(create_app(settings)) as client:
        assert client.get("/api/jobs").status_code == 200
    assert mode(database) == 0o600


def test_serve_creates_files_for_their_owner_only(started: list[dict], tmp_path: Path) -> None:
    result = invoke("--data", str(tmp_path / "data"))
    assert result.exit_code == 0, result.output
    assert started[0]["umask"] == 0o077


def test_the_token_may_come_from_a_file(started: list[dict], tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("from-a-file-1234\n")
    result = invoke("--data", str(tmp_path / "d"), "--host", "0.0.0.0", "--token-file", str(secret))
    assert result.exit_code == 0, result.output
    assert token_of(started[0]) == "from-a-file-1234"
    assert "from-a-file-1234" not in result.output


def test_the_token_may_come_from_the_environment(started: list[dict], tmp_path: Path) -> None:
    env = {"GENLAB_TOKEN": "from-the-env-5678"}
    result = invoke("--data", str(tmp_path / "d"), "--host", "0.0.0.0", env=env)
    assert result.exit_code == 0, result.output
    assert token_of(started[0]) == "from-the-env-5678"
    # A token given on the command line wins over the environment.
    result = invoke("--data", str(tmp_path / "d"), "--token", "from-the-flag-90", env=env)
    assert result.exit_code == 0, result.output
    assert token_of(started[1]) == "from-the-flag-90"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"\n  \n", "is empty"),
        ("t\u00f6k\u00e9n-1234567".encode(), "ASCII"),
        (b"two words-123", "printable ASCII"),
        (b"x" * 5000, "at most 4096 bytes"),
        (b"short", "at least 8"),
    ],
)
def test_an_unfit_token_file_is_one_line_error(
    started: list[dict], tmp_path: Path, content: bytes, message: str
) -> None:
    secret = tmp_path / "token"
    secret.write_bytes(content)
    result = invoke("--data", str(tmp_path / "d"), "--token-file", str(secret))
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output and not started


def test_a_missing_token_file_or_two_tokens_are_errors(started: list[dict], tmp_path: Path) -> None:
    result = invoke("--data", str(tmp_path / "d"), "--token-file", str(tmp_path / "none"))
    assert result.exit_code == 2 and "No such file" in result.output
    secret = tmp_path / "token"
    secret.write_text("from-a-file-1234")
    both = invoke("--token", "from-the-flag-90", "--token-file", str(secret))
    assert both.exit_code == 2 and "not both" in both.output
    assert not started
