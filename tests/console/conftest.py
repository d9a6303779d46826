"""Browser tests of the console: a real ``dvidctl serve``, Debian's Chromium driven by Playwright.

Playwright's own browser download cannot work here (no internet), so the tests drive the
system's Chromium (``/usr/bin/chromium``, or ``DVIDCTL_CHROMIUM``). Without it they skip with
one line, except under ``CI=true``, where a missing browser is a failure (``.ci/run`` installs
it). One server serves three repositories for the whole session, started with ``--token`` so
that the write actions can be tested too (reads need no token).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pytest

from dvidctl import Repository
from tests.console.big_dag import build_big_dag
from tests.console.demo_repo import Demo, build_demo

TOKEN = "console-test-token"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # WebGL without a GPU: ANGLE on SwiftShader (chromium 156 falls back to it by itself;
    # asking for it keeps the 3D tests independent of that fallback)
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]


def chromium_path() -> str | None:
    """The Chromium binary to drive, or None."""
    for p in (os.environ.get("DVIDCTL_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if p and os.path.exists(p):
            return p
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}: .ci/run installs chromium (apt-get install chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    path = chromium_path()
    if path is None:
        _unavailable("no Chromium found (apt-get install chromium, or set DVIDCTL_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Python Playwright is not installed (pip install playwright)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@dataclass
class Served:
    url: str
    demo: Demo
    big_root: str
    scratch_root: str


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """``dvidctl serve --token`` on a free loopback port: the demo, big-DAG and scratch repos."""
    base = tmp_path_factory.mktemp("console")
    demo = build_demo(base / "demo")
    big_root = build_big_dag(base / "big")
    with Repository.init(base / "scratch", alias="scratch") as r:
        r.new_instance("labelmap", "seg", {"BlockSize": "16,16,16"})
        r.head.instance("seg").put_subvolume(np.full((8, 8, 8), 3, np.uint64), (4, 4, 4))
        r.commit("first")
        scratch_root = r.root_uuid
    log = open(base / "serve.log", "wb")  # noqa: SIM115 - closed below
    cmd = [sys.executable, "-m", "dvidctl", "serve", "--port", "0", "--token", TOKEN]
    for name in ("demo", "big", "scratch"):
        cmd += ["--repo", str(base / name)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, env=env)
    try:
        line = proc.stdout.readline().decode()  # type: ignore[union-attr]
        assert "serving at http://" in line, (line, (base / "serve.log").read_text())
        url = line.split("serving at ", 1)[1].split("/api/", 1)[0]
        for _ in range(200):
            try:
                if httpx.get(url + "/api/heartbeat", timeout=2).text == "OK":
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield Served(url, demo, big_root, scratch_root)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture
def page(browser: Any, served: Served) -> Iterator[Any]:
    """A fresh page (its own session storage) at 1300x900, device pixels = CSS pixels."""
    ctx = browser.new_context(viewport={"width": 1300, "height": 900}, device_scale_factor=1)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.set_default_timeout(15_000)
    yield pg
    ctx.close()
    assert not errors, errors
