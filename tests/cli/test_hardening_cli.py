"""The CLI under hostile input: one line on stderr, exit code 2, never a traceback.

Covers click's own usage errors, output paths that cannot be written, crafted images
(deep JSON, wrong types, huge or bomb text chunks, escape sequences, lone surrogates)
and what the CLI prints from files.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from PIL import Image, PngImagePlugin
from PIL.PngImagePlugin import PngInfo
from typer.testing import CliRunner

from genlab.cli.errors import fail, user_errors
from genlab.cli.main import app

runner = CliRunner()
GENLAB = Path(sys.executable).with_name("genlab")
PARAMS = "Steps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 64x64"
LONG_NAME = "n" * 300


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def refused(result, *needles: str) -> str:
    """The result of a refused command: exit 2 and one `error:` line on stderr."""
    assert result.exit_code == 2, result.output
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.output and "\x1b" not in result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def png(path: Path, *, zip_text: bool = False, **texts: str) -> Path:
    info = PngInfo()
    for key, value in texts.items():
        info.add_text(key, value, zip=zip_text)
    Image.new("RGB", (16, 16), (200, 40, 40)).save(path, pnginfo=info)
    return path


# -- click's usage errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["generate", "--bogus"], "No such option: --bogus"),
        (["generate", "a cat", "--seed", "x"], "Invalid value for '--seed'"),
        (["info"], "Missing argument 'image'"),
        (["nosuch"], "No such command 'nosuch'"),
        (["runs", "show"], "Missing argument 'run'"),
        (["world", "dataset"], "Missing option '--out'"),
        (["train", "sr", "--out", "x", "--steps", "many"], "Invalid value for '--steps'"),
        (["eval", "adherence", "-n", "1.5"], "Invalid value"),
    ],
)
def test_usage_errors_are_one_line(args: list[str], needle: str) -> None:
    line = refused(invoke(*args), needle)
    assert "--help" in line  # says where the usage is, on the same line


def test_help_still_works() -> None:
    result = invoke("--help")
    assert result.exit_code == 0 and "generate" in result.stdout
    result = invoke("generate", "--help")
    assert result.exit_code == 0 and "--out" in result.stdout
    no_args = invoke()
    assert no_args.exit_code == 2 and "Usage" in no_args.output  # click's rule: help, exit 2


def test_installed_entry_point_prints_usage_errors_in_one_line() -> None:
    done = subprocess.run(
        [str(GENLAB), "generate", "--bogus"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.startswith("error: No such option: --bogus")
    assert line.endswith("(see genlab generate --help)")


# -- output paths ------------------------------------------------------------------------


@pytest.fixture
def image(tmp_path: Path) -> Path:
    return png(tmp_path / "in.png", parameters=f"a cat\n{PARAMS}")


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("keep me")
    return path


def commands(image: Path) -> dict[str, list[object]]:
    """Each command that writes, without its output flag."""
    return {
        "generate": ["generate", "a red circle", "--seed", "1"],
        "recolor": ["recolor", image, "--palette", "noir"],
        "palette": ["palette", image, "-k", "2"],
        "upscale": ["upscale", image, "-m", "bicubic"],
        "world": ["world", "dataset", "--n", "2"],
        "sweep": ["sweep", "a red circle", "--x", "seed=1,2", "-W", "64", "-H", "64"],
        "train sr": ["train", "sr", "--steps", "1"],
        "shapes-encoder": ["train", "shapes-encoder", "--steps", "1"],
    }


@pytest.mark.parametrize(
    "name",
    ["generate", "recolor", "palette", "upscale", "world", "sweep", "train sr", "shapes-encoder"],
)
@pytest.mark.parametrize("where", ["file", "under a file", "too long", "device"])
def test_unwritable_out_is_one_line_and_writes_nothing(
    tmp_path: Path, image: Path, a_file: Path, name: str, where: str
) -> None:
    out = {
        "file": a_file,
        "under a file": a_file / "sub",
        "too long": tmp_path / LONG_NAME,
        "device": Path(os.devnull),
    }[where]
    before = sorted(tmp_path.rglob("*"))
    line = refused(invoke(*commands(image)[name], "-o", out), "--out=")
    assert {
        "file": "it exists and is not a folder",
        "under a file": "on its path exists and is not a folder",
        "too long": "is 300 bytes; at most 255",
        "device": "it exists and is not a folder",
    }[where] in line
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, not even a folder
    assert a_file.read_text() == "keep me"


@pytest.mark.parametrize("tool", ["recolor", "palette", "upscale"])
def test_unwritable_output_file_is_one_line(tmp_path: Path, image: Path, tool: str) -> None:
    args = commands(image)[tool]
    (tmp_path / "folder.png").mkdir()
    refused(invoke(*args, "-o", tmp_path / "folder.png"), "it is a folder, not a file")
    refused(invoke(*args, "-o", tmp_path / f"{'n' * 250}.png"), "at most 241")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.png", "in.png"]


def test_eval_json_to_a_device_or_under_a_file_is_refused_before_measuring(
    tmp_path: Path, a_file: Path
) -> None:
    # /dev/null would be replaced by the atomic write (a rename), so it is refused.
    refused(invoke("eval", "adherence", "--json", os.devnull), "not a regular file")
    refused(invoke("eval", "adherence", "--json", a_file / "r.json"), "is not a folder")


def test_report_to_an_unwritable_path_is_refused(tmp_path: Path, a_file: Path) -> None:
    out = tmp_path / "runs"
    done = invoke("sweep", "a red circle", "--x", "seed=1,2", "-W", "64", "-H", "64", "-o", out)
    assert done.exit_code == 0, done.output
    refused(invoke("report", "last", "--out", out, "-r", a_file / "r.html"), "--report=")
    refused(invoke("report", "last", "--out", out, "-r", tmp_path / LONG_NAME), "at most 241")


def test_output_names_no_file_system_stores_are_refused(tmp_path: Path) -> None:
    from genlab.core.errors import InvalidRequest
    from genlab.services.outputs import check_output_file, check_output_folder

    for check in (check_output_folder, check_output_file):
        with pytest.raises(InvalidRequest, match="NUL character"):
            check(tmp_path / "a\x00b")
        with pytest.raises(InvalidRequest, match="not a valid file name"):
            check(tmp_path / "a\ud800b")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_folder_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    try:
        refused(invoke("generate", "a red circle", "-o", locked / "x"), "is not writable")
    finally:
        locked.chmod(0o755)


def test_unwritable_folder_is_refused_even_where_the_test_runs_as_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root may write into a mode-555 folder, so the permission answer is stood in for;
    # the check asks os.access, which also answers for read-only file systems.
    from genlab.services import outputs

    asked = []
    monkeypatch.setattr(outputs.os, "access", lambda path, mode: asked.append(path) and False)
    line = refused(invoke("generate", "a red circle", "-o", tmp_path / "new" / "x"))
    assert asked == [tmp_path] and f"the folder '{tmp_path}' is not writable" in line
    assert not (tmp_path / "new").exists()


def test_sweep_database_that_cannot_be_written_is_refused(tmp_path: Path, a_file: Path) -> None:
    args = ["sweep", "a red circle", "--x", "seed=1,2", "-W", "64", "-H", "64"]
    out = tmp_path / "out"
    refused(invoke(*args, "-o", out, "--db", a_file / "runs.sqlite"), "--db=")
    refused(invoke(*args, "-o", out, "--db", os.devnull), "not a regular file")
    assert not out.exists()


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (errno.ENOSPC, "No space left on device"),
        (errno.EROFS, "Read-only file system"),
        (errno.ENAMETOOLONG, "File name too long"),
        (errno.ENOTDIR, "Not a directory"),
        (errno.EISDIR, "Is a directory"),
    ],
)
def test_os_errors_while_writing_are_one_line(code: int, reason: str) -> None:
    @user_errors
    def write() -> None:
        raise OSError(code, os.strerror(code), "out/\x1b[2Jimage.png")

    cli = typer.Typer()
    cli.command()(write)
    cli.command("other")(lambda: None)
    result = runner.invoke(cli, ["write"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"error: {reason}: out/\\x1b[2Jimage.png"]


def test_fail_prints_one_printable_line() -> None:
    cli = typer.Typer()

    @cli.command()
    def broken() -> None:
        raise fail("bad\nthing \x1b]0;title\x07 \u202eevil [bold]x[/bold]")

    result = runner.invoke(cli, [])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: bad\\x0athing \\x1b]0;title\\x07 \\u202eevil [bold]x[/bold]"
    ]


# -- crafted images ----------------------------------------------------------------------


def crafted(tmp_path: Path) -> dict[str, Path]:
    deep = "[" * 100_000 + "]" * 100_000
    bomb = "a" * (PngImagePlugin.MAX_TEXT_CHUNK + 1)
    return {
        "deep": png(tmp_path / "deep.png", genlab=f'{{"request": {deep}}}', parameters=PARAMS),
        "loras": png(
            tmp_path / "loras.png",
            genlab=json.dumps({"request": {"prompt": "a cat", "loras": 5}}),
            parameters=f"a cat\n{PARAMS}",
        ),
        "huge": png(tmp_path / "huge.png", parameters="a" * (2 * 1024 * 1024)),
        "bomb": png(tmp_path / "bomb.png", zip_text=True, parameters=bomb),
    }


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("deep", "nested more than 100 levels"),
        ("huge", "genlab reads at most"),
        ("bomb", "is refused: its text chunks are too large"),
    ],
)
def test_unreadable_metadata_is_one_line_in_info_and_generate(
    tmp_path: Path, name: str, needle: str
) -> None:
    path = crafted(tmp_path)[name]
    refused(invoke("info", path), needle)
    refused(invoke("info", "--json", path), needle)
    refused(invoke("generate", "--from", path, "-o", tmp_path / "out"), needle)
    assert not (tmp_path / "out").exists()


def test_record_of_the_wrong_type_is_one_line_in_generate_from(tmp_path: Path) -> None:
    path = crafted(tmp_path)["loras"]
    refused(invoke("generate", "--from", path, "-o", tmp_path / "out"), "loras=5")
    assert not (tmp_path / "out").exists()
    assert '"loras": 5' in invoke("info", "--json", path).stdout


def test_info_shows_escape_sequences_instead_of_sending_them(tmp_path: Path) -> None:
    text = "a \x1b]0;pwned\x07 \x1b[31mred \u202ecat\x9b\nSteps: 20, Seed: 1, Sampler: Euler"
    record = {"request": {"prompt": "\x1b[2J\u202e"}, "note": "\x9b31m"}
    path = png(tmp_path / "esc.png", parameters=text, genlab=json.dumps(record))
    result = invoke("info", path)
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "a \\x1b]0;pwned\\x07 \\x1b[31mred \\u202ecat\\x9b",  # newlines kept, codes shown
        "Steps: 20, Seed: 1, Sampler: Euler",
    ]
    shown = invoke("info", "--json", path).stdout
    assert "\x1b" not in shown and "\u202e" not in shown and "\x9b" not in shown
    assert "\\u001b[2J" in shown and "\\x9b31m" in shown


def test_info_with_lone_surrogates_does_not_crash(tmp_path: Path) -> None:
    # A lone surrogate reaches the record through a JSON escape; the parameters text
    # through a JPEG's UTF-16 UserComment.
    record = {"request": {"prompt": "x\ud800y"}}
    path = png(tmp_path / "s.png", parameters=f"a cat\n{PARAMS}", genlab=json.dumps(record))
    result = invoke("info", "--json", path)
    assert result.exit_code == 0, result.output
    assert "x\ufffdy" in result.stdout
    refused(invoke("generate", "--from", path, "-o", tmp_path / "o"), "lone surrogate")

    from genlab.core.imageio import EXIF_IFD, USER_COMMENT

    exif = Image.Exif()
    exif.endian = ">"
    body = "a ".encode("utf-16-be") + b"\xdc\x00" + f" cat\n{PARAMS}".encode("utf-16-be")
    exif.get_ifd(EXIF_IFD)[USER_COMMENT] = b"UNICODE\x00" + body
    jpeg = tmp_path / "s.jpg"
    Image.new("RGB", (8, 8)).save(jpeg, exif=exif.tobytes())
    result = invoke("info", jpeg)
    assert result.exit_code == 0 and result.stdout.startswith("a \ufffd cat\n")


def test_file_names_are_printed_printable(tmp_path: Path) -> None:
    path = png(tmp_path / "\x1b[31mevil.png")
    line = refused(invoke("info", path), "has no generation parameters")
    assert "\\x1b[31mevil.png" in line
