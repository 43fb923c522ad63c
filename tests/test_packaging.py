"""The project's install files agree with each other and the commands they promise exist."""

from __future__ import annotations

import ast
import functools
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import NoReturn

import psutil
import pytest
import yaml

from .conftest import ROOT


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ]", requirement.strip(), maxsplit=1)[0].lower()


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_lists_the_same_dependencies_as_pyproject() -> None:
    project = _pyproject()["project"]
    expected = {_name(r): r for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "conda-forge" in env["channels"]
    listed: dict[str, str] = {}
    for dep in env["dependencies"]:
        for item in dep["pip"] if isinstance(dep, dict) else [dep]:
            listed[_name(item)] = item
    listed.pop("python")
    listed.pop("pip")
    assert set(listed) == set(expected), (
        f"only in environment.yml: {set(listed) - set(expected)}; "
        f"only in pyproject: {set(expected) - set(listed)}"
    )
    for name, requirement in expected.items():
        assert listed[name].replace(" ", "") == requirement.replace(" ", ""), (
            f"version pins differ for {name}"
        )


def test_readme_shows_the_two_commands_and_ci_runs_the_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make dashboard" in readme and "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_cli_help_explains_every_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mdx.cli", "--help"], capture_output=True, text=True, check=True
    )
    for word in ("monitor", "record", "replay", "sim", "replay:PATH"):
        assert word in result.stdout
    for command in ("monitor", "record", "replay"):
        sub = subprocess.run(
            [sys.executable, "-m", "mdx.cli", command, "--help"], capture_output=True, text=True, check=True
        )
        assert "usage: mdx " + command in sub.stdout


# -- import rules ---------------------------------------------------------------------------------------

MDX = ROOT / "mdx"

# (top-level modules, the only places under the repo root that may import them)
ONLY_IMPORTED_IN: list[tuple[frozenset[str], tuple[str, ...]]] = [
    (frozenset({"ccxt"}), ("mdx/sources/live/",)),
    (frozenset({"ipywidgets", "bqplot", "IPython"}), ("mdx/ui/",)),
    (frozenset({"sqlite3"}), ("mdx/store/",)),
    (frozenset({"redis"}), ("mdx/store/", "mdx/sources/redis")),
]


def _imports(source: str, package: tuple[str, ...]) -> set[str]:
    """Dotted names of the modules ``source`` imports; relative imports are resolved against ``package``.

    ``from a import b`` yields both ``a`` and ``a.b`` (``b`` may be a submodule).
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = list(package[: len(package) + 1 - node.level]) if node.level else []
            module = ".".join([*parts, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


@functools.cache
def _mdx_imports() -> dict[str, set[str]]:
    """Every ``.py`` under ``mdx/`` (as a repo-relative posix path) -> the modules it imports."""
    return {
        path.relative_to(ROOT).as_posix(): _imports(path.read_text(), path.parent.relative_to(ROOT).parts)
        for path in sorted(MDX.rglob("*.py"))
    }


def test_import_walker_sees_absolute_and_relative_imports() -> None:
    assert {"ccxt", "ccxt.pro"} <= _mdx_imports()["mdx/sources/live/ccxt_source.py"]
    found = _imports("from ..ui import app\nfrom . import bars\nimport numpy.linalg", ("mdx", "market"))
    assert found == {"mdx.ui", "mdx.ui.app", "mdx.market", "mdx.market.bars", "numpy.linalg"}


def test_optional_libraries_are_imported_only_where_they_belong() -> None:
    offenders = [
        f"{path} imports {module}"
        for path, modules in _mdx_imports().items()
        for module in sorted(modules)
        for names, allowed in ONLY_IMPORTED_IN
        if module.split(".")[0] in names and not path.startswith(allowed)
    ]
    assert not offenders, "imports outside their package:\n" + "\n".join(offenders)


def test_analytics_and_market_do_not_import_the_ui() -> None:
    offenders = [
        f"{path} imports {module}"
        for path, modules in _mdx_imports().items()
        if path.startswith(("mdx/analytics/", "mdx/market/"))
        for module in sorted(modules)
        if module == "mdx.ui" or module.startswith("mdx.ui.")
    ]
    assert not offenders, "the UI must not leak into analytics/market:\n" + "\n".join(offenders)


# -- the wheel ------------------------------------------------------------------------------------------

OFFLINE_HINTS = (
    "NewConnectionError",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Network is unreachable",
    "ConnectTimeout",
    "No matching distribution found",
)


def _skip_or_fail(message: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _build_wheel(out: Path, scratch: Path) -> Path:
    """Build mdx's wheel into ``out`` from a clean copy of the repo (pip builds in-tree, and a stale
    ``build/lib`` in the checkout would ship modules that no longer exist)."""
    source = scratch / "src"
    junk = (".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".ipynb_checkpoints")
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*junk))
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--retries=1", "--timeout=30"]
    pip_wheel += ["-w", str(out), str(source)]
    isolated = subprocess.run(pip_wheel, capture_output=True, text=True)
    if isolated.returncode != 0:
        fallback = subprocess.run([*pip_wheel, "--no-build-isolation"], capture_output=True, text=True)
        if fallback.returncode != 0:
            message = (
                f"building the wheel failed; isolated:\n{isolated.stderr[-3000:]}\n"
                f"without isolation:\n{fallback.stderr[-3000:]}"
            )
            if any(hint in isolated.stdout + isolated.stderr for hint in OFFLINE_HINTS):
                _skip_or_fail("no network for the isolated build; " + message)
            pytest.fail(message)
    (wheel,) = out.glob("mdx-*.whl")
    return wheel


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except OSError:  # refused while Voilà starts (HTTPError is an OSError too)
        return 0, ""


@pytest.mark.timeout(300)
def test_wheel_installs_and_serves_the_monitor(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path / "wheel", tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", str(wheel)],
        check=True,
        cwd=tmp_path,
    )
    # Only now expose our dependencies (pip must not see the editable mdx here): a path line in a .pth
    # adds that directory, but not its own .pth files, so the editable-install hook stays off.
    purelib = Path(
        subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    (purelib / "_mdx_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # Voilà's templates and kernel specs are data files under our prefix, not under the new venv's.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")

    where = subprocess.check_output(
        [python, "-c", "import mdx, pathlib; print(pathlib.Path(mdx.__file__).resolve())"],
        text=True,
        cwd=tmp_path,
        env=env,
    )
    package = Path(where.strip()).parent
    assert package.is_relative_to(venv.resolve()), f"mdx imported from {package}, not from the new venv"
    notebook = package / "ui" / "monitor.ipynb"
    assert notebook.is_file(), "monitor.ipynb is not shipped as package data"

    port = _free_port()
    log = tmp_path / "monitor.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [venv / "bin" / "mdx", "monitor", "--no-browser", f"--port={port}"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 90
        status, body = _get(f"http://localhost:{port}/")
        while status != 200 and server.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
            status, body = _get(f"http://localhost:{port}/")
        assert status == 200, f"no page (status {status}, exit {server.poll()}):\n{log.read_text()[-3000:]}"
        assert "<title>monitor</title>" in body and "voila" in body.lower()
        # Voilà logs only the notebook's name; its command line shows which file it serves.
        children = psutil.Process(server.pid).children()
        served = [child.cmdline() for child in children if "mdx.serve_kernels" in child.cmdline()]
        assert served and str(notebook) in served[0], f"Voilà is not serving {notebook}: {served}"
    finally:
        try:
            children = psutil.Process(server.pid).children(recursive=True)
        except psutil.Error:  # it has exited already
            children = []
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        _, alive = psutil.wait_procs(children, timeout=15)
        for process in alive:
            process.kill()
