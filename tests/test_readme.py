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
