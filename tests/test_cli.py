"""The mdx command line: a bad argument or an unreadable file is one clear line on stderr and exit code 2,
never a traceback or a silent empty result; `mdx monitor` checks its sources before it starts a server."""

from __future__ import annotations

import gzip
import socket
import subprocess
import sys
import time
from pathlib import Path
from subprocess import PIPE
from typing import Any, ClassVar

import pytest

from mdx import cli, serve
from mdx.config import Settings
from mdx.errors import CaptureError, ConfigError
from mdx.events import Trade
from mdx.io.recording import write_recording

CLI = [sys.executable, "-m", "mdx.cli"]
SPOT = "binance-spot-l2-trades"


def mdx(*args: object, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the command line. On a timeout it gets SIGTERM, which `mdx monitor` forwards to a Voilà it
    started (in a session of its own, that a kill of our child would not reach), then the test fails."""
    cmd = [*CLI, *map(str, args)]
    with subprocess.Popen(cmd, stdout=PIPE, stderr=PIPE, text=True, cwd=cwd) as process:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.terminate()
            out, err = process.communicate(timeout=30)
            pytest.fail(f"{cmd} still running after {timeout} s; stderr: {err[-2000:]}")
    return subprocess.CompletedProcess(cmd, process.returncode, out, err)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return int(s.getsockname()[1])


def fails(result: subprocess.CompletedProcess[str], message: str) -> str:
    """Assert a clean failure: exit 2, ``message`` on stderr, no traceback; returns the last stderr line."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and message in result.stderr, result.stderr
    return result.stderr.strip().splitlines()[-1]


def recording(path: Path) -> Path:
    trades = [Trade("sim", "A/B", i * 10**9, i * 10**9, str(i), 100.0 + i, 1.0, "buy") for i in range(5)]
    write_recording(path, trades)
    return path


# --- mdx record ------------------------------------------------------------------------------------------


OUT = ["--out", "{tmp}/x.mdx.jsonl.gz"]
FINITE = "argument --seconds: must be a finite number > 0"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "{tmp}/no/x.mdx.jsonl.gz"], "argument --out: {tmp}/no/x.mdx.jsonl.gz: no such directory"),
        (["--out", "{tmp}"], "argument --out: {tmp} is a directory; give a file name such as"),
        (
            ["--out", "{tmp}/x.gz"],
            "must end in .mdx.jsonl.gz (or .mdx.jsonl for plain text), e.g. {tmp}/x.mdx",
        ),
        ([*OUT, "--seconds", "nan"], FINITE),
        ([*OUT, "--seconds", "inf"], FINITE),
        ([*OUT, "--seconds", "0"], FINITE),
        ([*OUT, "--seconds", "soon"], "argument --seconds: not a number: 'soon'"),
        ([*OUT, "--speed", "nan"], "argument --speed: must be a number > 0"),
        ([*OUT, "--source", "nosuchthing"], "mdx record: unknown exchange 'nosuchthing'"),
        ([*OUT, "--source", "replay:{tmp}/none.gz"], "none.gz: no such capture file"),
    ],
)
def test_record_rejects_bad_arguments_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    # Before: a missing folder, a folder, or --seconds nan|inf printed a traceback; --out x.gz wrote a file
    # that `mdx replay x.gz` read as 0 events and 521 MalformedFrame, exit 0.
    tmp = str(tmp_path)
    line = fails(mdx("record", *(a.format(tmp=tmp) for a in args)), message.format(tmp=tmp))
    assert line.startswith(("mdx record: error: argument", "mdx record: "))
    assert not list(tmp_path.iterdir())  # nothing written


def test_record_writes_plain_text_recordings_that_replay(tmp_path: Path) -> None:
    out = tmp_path / "sim.mdx.jsonl"
    recorded = mdx("record", "--seconds", "2", "--symbols", "ETH/USDT", "--out", out)
    assert recorded.returncode == 0, recorded.stderr
    assert out.read_bytes().startswith(b'{"type":"header"')
    replayed = mdx("replay", out, "--timeframe", "1s")
    assert replayed.returncode == 0 and "sim ETH/USDT: book in sync" in replayed.stdout


# --- mdx replay ------------------------------------------------------------------------------------------


def test_replay_of_a_misnamed_recording_says_how_to_name_it(tmp_path: Path) -> None:
    misnamed = tmp_path / "x.gz"
    misnamed.write_bytes(recording(tmp_path / "x.mdx.jsonl.gz").read_bytes())
    expected = (
        f"an mdx recording without the suffix .mdx.jsonl.gz; rename it to {tmp_path / 'x.mdx.jsonl.gz'}"
    )
    fails(mdx("replay", misnamed), f"mdx replay: {misnamed}: {expected}")


def test_replay_of_files_without_events_fails(tmp_path: Path) -> None:
    good = recording(tmp_path / "good.mdx.jsonl.gz")
    empty = tmp_path / "empty.gz"
    empty.write_bytes(b"")
    text = tmp_path / "notes.txt"
    text.write_text("hello\nworld\n")
    blank = tmp_path / "blank.gz"
    blank.write_bytes(gzip.compress(b""))
    header_only = tmp_path / "header.mdx.jsonl.gz"
    write_recording(header_only, [])
    fails(mdx("replay", empty), f"mdx replay: {empty}: empty file")
    fails(mdx("replay", good, text), f"mdx replay: {text}: no events: not a Binance capture")
    fails(mdx("replay", text), "rejected 2 MalformedFrame; e.g. notes.txt:2:")
    fails(mdx("replay", blank), f"mdx replay: {blank}: no market-data events in the file")
    fails(mdx("replay", header_only), f"{header_only}: no market-data events")
    fails(mdx("replay", tmp_path / "missing.gz"), "missing.gz: no such capture file")
    not_a_recording = tmp_path / "fake.mdx.jsonl.gz"
    not_a_recording.write_bytes(gzip.compress(b'{"hello": 1}\n'))
    fails(mdx("replay", not_a_recording), "not an mdx recording")
    ok = mdx("replay", good, "--timeframe", "1s")
    assert ok.returncode == 0 and "5 events" in ok.stdout, ok.stderr


def test_replay_of_a_damaged_capture_summarizes_what_was_read(shared_data: Path, tmp_path: Path) -> None:
    padded = tmp_path / "btcusdt_20240808.gz"
    padded.write_bytes((shared_data / SPOT / "btcusdt_20240808.gz").read_bytes() + bytes(100))
    result = mdx("replay", padded)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("41249 events") and "'CaptureError': 1" in result.stdout


# --- mdx monitor -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("nosuchthing", "mdx monitor: unknown exchange 'nosuchthing': not a ccxt exchange id"),
        ("sim+binanc", "unknown exchange 'binanc': not a ccxt exchange id; did you mean binance"),
        ("replay:/nonexistent.gz", "mdx monitor: /nonexistent.gz: no such capture file"),
        ("sim+replay:missing.gz", "mdx monitor: {tmp}/missing.gz: no such capture file"),
        ("replay:empty.gz", "mdx monitor: {tmp}/empty.gz: empty file"),
        ("replay:", "mdx monitor: replay needs at least one path"),
    ],
)
def test_monitor_checks_its_sources_before_starting_a_server(
    tmp_path: Path, source: str, message: str
) -> None:
    # Before: Voilà started and served a dashboard that showed nothing, with nothing in the terminal.
    (tmp_path / "empty.gz").write_bytes(b"")
    started = time.monotonic()
    result = mdx(
        "monitor", "--source", source, "--no-browser", "--port", free_port(), cwd=tmp_path, timeout=30
    )
    fails(result, message.format(tmp=tmp_path))
    assert time.monotonic() - started < 30 and "voila" not in (result.stdout + result.stderr).lower()


class FakeVoila:
    """Stands in for the Voilà process: records how it was started and exits at once."""

    calls: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, cmd: list[str], *, env: dict[str, str], cwd: Path, start_new_session: bool) -> None:
        FakeVoila.calls.append({"cmd": cmd, "env": env, "cwd": cwd})

    def wait(self, timeout: float | None = None) -> int:
        return 0

    def poll(self) -> int:
        return 0


def test_monitor_resolves_relative_replay_paths_from_the_callers_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: Voilà's kernel runs in the notebook's folder, so replay:../shared/data/... from the README
    # showed "no such capture file" in the dashboard.
    data = tmp_path / "data"
    data.mkdir()
    a, b = recording(data / "a.mdx.jsonl.gz"), recording(data / "b.mdx.jsonl.gz")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(serve.subprocess, "Popen", FakeVoila)
    FakeVoila.calls.clear()
    source = "sim + replay:../data/a.mdx.jsonl.gz, ../data/b.mdx.jsonl.gz"
    assert cli.main(["monitor", "--source", source, "--no-browser"]) == 0
    (call,) = FakeVoila.calls
    assert call["env"]["MDX_SOURCE"] == f"sim+replay:{a},{b}"
    assert call["cwd"] == serve.MONITOR_NOTEBOOK.parent  # the kernel's folder: why paths must be absolute


def test_absolute_replay_paths(tmp_path: Path) -> None:
    settings = Settings(source="replay:x.gz,/abs/y.gz+sim+binance", seed=3)
    resolved = serve.absolute_replay_paths(settings, cwd=tmp_path / "sub")
    assert resolved.source == f"replay:{tmp_path}/sub/x.gz,/abs/y.gz+sim+binance" and resolved.seed == 3
    assert serve.absolute_replay_paths(Settings(source="sim")) == Settings(source="sim")
    home = serve.absolute_replay_paths(Settings(source="replay:~/c.gz"), cwd=tmp_path)
    assert home.source == f"replay:{Path.home() / 'c.gz'}"
    parent = serve.absolute_replay_paths(Settings(source="replay:../d.gz"), cwd=tmp_path / "sub")
    assert parent.source == f"replay:{tmp_path / 'd.gz'}"  # normalized, no ".." left


def test_prepare_settings_raises_the_specific_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown exchange 'nosuchthing'"):
        serve.prepare_settings(Settings(source="sim+nosuchthing"))
    with pytest.raises(CaptureError, match=r"nope\.gz: no such capture file"):
        serve.prepare_settings(Settings(source="replay:nope.gz"), cwd=tmp_path)
    good = recording(tmp_path / "good.mdx.jsonl.gz")
    assert serve.prepare_settings(Settings(source="replay:good.mdx.jsonl.gz"), cwd=tmp_path).replay_paths == (
        str(good),
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cull-after", "0"], "argument --cull-after: must be a finite number > 0, got '0'"),
        (["--cull-after", "nan"], "argument --cull-after: must be a finite number > 0, got 'nan'"),
        (["--cull-after", "soon"], "argument --cull-after: not a number: 'soon'"),
        (["--max-kernels", "0"], "argument --max-kernels: must be at least 1, got '0'"),
        (["--max-kernels", "1.5"], "argument --max-kernels: not a whole number: '1.5'"),
    ],
)
def test_monitor_rejects_bad_kernel_limits_in_one_line(args: list[str], message: str) -> None:
    result = mdx("monitor", "--no-browser", "--port", free_port(), *args, timeout=30)
    assert fails(result, message).startswith("mdx monitor: error: argument")
    assert "voila" not in (result.stdout + result.stderr).lower()


def test_monitor_passes_its_kernel_limits_to_voila(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve.subprocess, "Popen", FakeVoila)
    FakeVoila.calls.clear()
    assert cli.main(["monitor", "--no-browser", "--cull-after", "2.5", "--max-kernels", "3"]) == 0
    (call,) = FakeVoila.calls
    assert "--ViewerKernelManager.cull_after=2.5" in call["cmd"]
    assert "--ViewerKernelManager.max_kernels=3" in call["cmd"]
    assert call["env"]["MDX_STATUS_LOG"].endswith("status.log")  # where the kernels write status lines


SECRET = "sekrit-cli-5e2b71"
CREDENTIAL_ENV = {"MDX_BINANCE_API_KEY": SECRET, "MDX_BINANCE_SECRET": SECRET + "-s"}


def test_record_from_a_live_exchange_gets_the_credentials_of_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Before: `mdx record --source binance` built Settings without credentials (MDX_BINANCE_* ignored).
    import mdx.sources

    for name, value in CREDENTIAL_ENV.items():
        monkeypatch.setenv(name, value)
    seen: list[Settings] = []

    def fake_make_source(settings: Settings) -> Any:
        seen.append(settings)
        raise ConfigError("stopped by the test before any network")

    monkeypatch.setattr(mdx.sources, "make_source", fake_make_source)
    out = tmp_path / "live.mdx.jsonl.gz"
    assert cli.main(["record", "--source", "binance", "--seconds", "1", "--out", str(out)]) == 2
    (settings,) = seen
    assert settings.exchange_options("binance") == {"apiKey": SECRET, "secret": SECRET + "-s"}
    printed = capsys.readouterr()
    assert "stopped by the test" in printed.err and SECRET not in printed.out + printed.err
    assert SECRET not in repr(settings) + str(settings)


def test_monitor_gives_credentials_to_the_kernels_only_for_a_live_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in CREDENTIAL_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MDX_CREDENTIALS_FILE", "/nonexistent/creds.json")  # read only for a live source
    monkeypatch.setattr(serve.subprocess, "Popen", FakeVoila)
    FakeVoila.calls.clear()
    assert cli.main(["monitor", "--no-browser"]) == 0
    monkeypatch.delenv("MDX_CREDENTIALS_FILE")
    assert cli.main(["monitor", "--no-browser", "--source", "binance"]) == 0
    sim, live = (call["env"] for call in FakeVoila.calls)
    assert not {"MDX_BINANCE_API_KEY", "MDX_BINANCE_SECRET", "MDX_CREDENTIALS_FILE"} & set(sim)
    assert live["MDX_BINANCE_API_KEY"] == SECRET and live["MDX_BINANCE_SECRET"] == SECRET + "-s"


# --- --db: the SQLite store ------------------------------------------------------------------------------


def test_record_stores_into_a_database_once_and_alongside_a_recording(tmp_path: Path) -> None:
    from mdx.store import Store

    db, out = tmp_path / "market.db", tmp_path / "sim.mdx.jsonl.gz"
    first = mdx("record", "--seconds", "5", "--symbols", "BTC/USDT", "--db", db, "--out", out)
    assert first.returncode == 0, first.stderr
    assert f"to the store {db}" in first.stdout and "stored bars" in first.stdout
    counts = Store(db).counts()
    assert counts["trades"] > 0 and counts["bars"] > 0 and counts["book_tops"] > 0
    plain = mdx("record", "--seconds", "5", "--symbols", "BTC/USDT", "--out", tmp_path / "plain.mdx.jsonl.gz")
    assert plain.returncode == 0 and plain.stdout.split(" to ")[0] in first.stdout  # same events recorded
    assert out.stat().st_size > 0


@pytest.mark.parametrize("command", ["record", "monitor"])
def test_a_db_that_is_not_a_store_is_refused_in_one_line_and_left_intact(
    tmp_path: Path, command: str
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n")
    last = fails(mdx(command, "--db", notes, "--no-browser" if command == "monitor" else "--seconds=1"), "")
    assert "not a SQLite database" in last and notes.read_text() == "not a database\n"


def test_record_needs_a_recording_or_a_database(tmp_path: Path) -> None:
    assert "give --out FILE" in fails(mdx("record", "--seconds", "1"), "")


def test_monitor_hands_the_absolute_store_path_to_the_kernels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[Settings] = []
    monkeypatch.setattr(serve, "serve_monitor", lambda settings, **kw: seen.append(settings) or 0)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["monitor", "--db", "here.db", "--no-browser"]) == 0
    assert seen[0].db == str(tmp_path / "here.db") and seen[0].to_env()["MDX_DB"] == str(tmp_path / "here.db")
    assert (tmp_path / "here.db").exists()  # created and migrated before Voilà starts


# --- mdx import / mdx export ------------------------------------------------------------------------------


def test_mdx_import_and_export_fail_in_one_line_on_bad_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.csv"
    assert cli.main(["import", str(missing), "--symbol", "BTC/USDT", "--db", str(tmp_path / "a.db")]) == 2
    assert capsys.readouterr().err.strip() == f"mdx import: {missing}: no such file"
    with pytest.raises(SystemExit) as exited:
        cli.main(["export", "--symbol", "BTC/USDT", "--format", "xlsx", "--out", str(tmp_path / "x")])
    assert exited.value.code == 2 and "invalid choice: 'xlsx'" in capsys.readouterr().err
    db = ["--db", str(tmp_path / "a.db")]
    bad_tf = ["export", "--symbol", "BTC/USDT", "--timeframe", "7q", "--format", "csv", "--out", "x.csv", *db]
    assert cli.main(bad_tf) == 2
    assert "mdx export: unknown timeframe '7q'" in capsys.readouterr().err
    into_folder = ["export", "--symbol", "BTC/USDT", "--format", "csv", "--out", str(tmp_path), *db]
    assert cli.main(into_folder) == 2
    assert "is a folder: a CSV export writes one file" in capsys.readouterr().err
