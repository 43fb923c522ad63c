"""Every Python example in the README runs as written (from the repository root, as a reader would)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from mdx.events import Trade
from mdx.io.capture import read_capture

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


@pytest.mark.data
def test_readme_python_examples_run_as_written(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = BLOCK.findall((ROOT / "README.md").read_text())
    assert len(blocks) >= 2, "the README's Python examples were not found"
    monkeypatch.chdir(ROOT)  # its paths are relative to the repository root
    namespace: dict[str, object] = {"__name__": "readme"}
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"README.md python block {number}", "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    mid, spread_bps, _ = (float(v) for v in printed[0].split())
    assert mid > 0 and spread_bps >= 0  # the live example's book view
    ema_last, rsi_last = (float(v) for v in printed[1].split())
    assert math.isfinite(ema_last) and 0 <= rsi_last <= 100  # enough bars for both indicators
    counter, session = namespace["counter"], namespace["session"]
    spot = shared_data / "binance-spot-l2-trades"
    files = sorted(spot.glob("*usdt_2024080?.gz"))
    trades = sum(isinstance(event, Trade) for file in files for event in read_capture(file))
    assert counter.count == trades > 19_904  # every BTC and ETH trade, once
    assert {s.state for s in session.statuses.values()} == {"done"}  # type: ignore[attr-defined]
    assert session.rejections.total == 0  # type: ignore[attr-defined]
    alerts = namespace["alerts"].recent(3)  # type: ignore[attr-defined]
    assert {a.kind for a in namespace["alerts"].recent()} >= {"price_cross", "pct_change"}  # type: ignore[attr-defined]
    assert printed[-3:] == [a.text for a in alerts] and all("BTC/USDT" in line for line in printed[-3:])


USAGE = re.compile(r"## The `mdx` command\n\n```\n(.*?)```", re.S)


def _readme_usage() -> dict[str, set[str]]:
    """The options the README's usage block shows for each ``mdx`` command."""
    block = USAGE.search((ROOT / "README.md").read_text())
    assert block, "the README's usage block for the mdx command was not found"
    shown: dict[str, set[str]] = {}
    command = ""
    for line in block.group(1).splitlines():
        words = line.split()
        if words[:1] == ["mdx"]:
            command = words[1]
        shown.setdefault(command, set()).update(re.findall(r"--[a-z][a-z-]*", line))
    return shown


def test_the_readme_usage_shows_exactly_the_options_the_cli_takes() -> None:
    import argparse

    from mdx.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    shown = _readme_usage()
    assert set(shown) == set(commands.choices), "README usage and mdx's commands differ"
    for name, sub in commands.choices.items():
        taken = {s for a in sub._actions for s in a.option_strings if s.startswith("--") and s != "--help"}
        # --exchange and --seed are documented in `mdx COMMAND --help` only (rarely needed)
        assert shown[name] <= taken, f"mdx {name}: the README shows options the CLI does not take"
        missing = taken - shown[name] - {"--exchange", "--seed"}
        assert not missing, f"mdx {name}: options missing from the README usage: {sorted(missing)}"
