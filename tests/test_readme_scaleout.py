"""The README's scale-out commands, run as written against a real redis-server: ``mdx collect`` publishes
the simulator's events to Redis Streams, and ``mdx monitor --source redis://...`` serves the dashboard. The
only changes to the lines: the fixture's Redis URL for the README's, and a free port without a browser."""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import redis

from tests.voila_helpers import free_port, serving, wait_for_server

ROOT = Path(__file__).resolve().parents[1]
README_URL = "redis://127.0.0.1:6379/0"
pytestmark = pytest.mark.timeout(180)


def readme_line(prefix: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Scale-out: one collector, many viewers\n.*?```bash\n(.*?)```", text, re.S)
    assert block, "the README's scale-out commands were not found"
    line = next(line for line in block.group(1).splitlines() if line.startswith(prefix))
    return shlex.split(line.split("#", 1)[0])


def mdx_command(words: list[str], url: str) -> list[str]:
    assert words[0] == "mdx" and README_URL in words
    cli = Path(sys.executable).with_name("mdx")
    return [str(cli), *(url if w == README_URL else w for w in words[1:])]


def test_the_readme_collector_publishes_and_a_monitor_reads_from_redis(redis_url: str) -> None:
    collect = subprocess.Popen(mdx_command(readme_line("mdx collect"), redis_url), cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        client = redis.Redis.from_url(redis_url)
        deadline = time.monotonic() + 60
        streams: list[bytes] = []
        while time.monotonic() < deadline and not streams:
            assert collect.poll() is None, (
                f"mdx collect ended: {collect.stdout.read() if collect.stdout else ''}"
            )
            streams = [k for k in client.scan_iter("mdx:sim:*:trades") if client.xlen(k) > 0]
            time.sleep(0.2)
        assert streams, "no trades published within 60 s"
        assert {k.decode() for k in streams} <= {"mdx:sim:BTC/USDT:trades", "mdx:sim:ETH/USDT:trades"}
        port = free_port()
        command = [*mdx_command(readme_line("mdx monitor"), redis_url), "--port", str(port), "--no-browser"]
        with serving(command, port) as served:
            wait_for_server(port, served.process)
            with urllib.request.urlopen(f"http://localhost:{port}/", timeout=60) as page:
                assert page.status == 200
    finally:
        collect.send_signal(signal.SIGINT)
        try:
            collect.wait(timeout=20)
        except subprocess.TimeoutExpired:
            collect.kill()
            collect.wait()
