"""A live engine and CRM (real processes, as `make run` starts them) and a real browser.

The stack runs on free ports over a temporary data folder with the demo data loaded, an engine
token set (so the CRM's bearer-token path is exercised), and one admin created through the CLI.
Browser: Playwright for Python driving Debian's Chromium (/usr/bin/chromium or MICROBSS_CHROMIUM),
headless; the test phase is skipped, with a message, on a machine without Chromium.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

CHROMIUM = os.environ.get("MICROBSS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
STARTUP_TIMEOUT_S = 90

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class LiveStack:
    crm_url: str
    engine_addr: str
    engine_token: str
    data_dir: Path
    env: dict[str, str]
    admin_username: str
    admin_password: str

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "microbss", *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_engine(addr: str, token: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    with grpc.insecure_channel(addr) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            assert proc.poll() is None, "engine exited during start-up"
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1, wait_for_ready=True)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
    raise AssertionError("engine never became healthy")


def _wait_for_http(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, "CRM exited during start-up"
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"CRM never answered {url}")


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveStack]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"no Chromium at {CHROMIUM}: browser tests skipped")
    data_dir = tmp_path_factory.mktemp("e2e-stack")
    engine_addr = f"127.0.0.1:{_free_port()}"
    crm_listen = f"127.0.0.1:{_free_port()}"
    token = secrets.token_urlsafe(24)
    env = {
        **os.environ,
        "MICROBSS_DATA_DIR": str(data_dir),
        "MICROBSS_ENGINE_DB_URL": f"sqlite:///{data_dir / 'engine.sqlite3'}",
        "MICROBSS_ENGINE_LISTEN": engine_addr,
        "MICROBSS_ENGINE_ADDR": engine_addr,
        "MICROBSS_ENGINE_TOKEN": token,
        "MICROBSS_SECRET": "e2e-secret",
        "MICROBSS_CRM_DB_URL": f"sqlite:///{data_dir / 'crm.sqlite3'}",
        "MICROBSS_CRM_LISTEN": crm_listen,
        "MICROBSS_CRM_SECRET_KEY": secrets.token_urlsafe(40),
    }
    env.pop("MICROBSS_TEST_POSTGRES_URL", None)
    stack = LiveStack(
        crm_url=f"http://{crm_listen}",
        engine_addr=engine_addr,
        engine_token=token,
        data_dir=data_dir,
        env=env,
        admin_username="e2e-admin",
        admin_password="e2e-" + secrets.token_urlsafe(16),
    )
    stack.cli("engine", "migrate")
    stack.cli("engine", "demo-data")
    stack.cli("crm", "migrate")
    stack.cli(
        "crm",
        "createadmin",
        "--username",
        stack.admin_username,
        "--email",
        "admin@example.com",
        "--password-stdin",
        stdin=stack.admin_password,
    )
    logs = [open(data_dir / name, "wb") for name in ("engine.log", "crm.log")]  # noqa: SIM115
    engine = subprocess.Popen(
        [sys.executable, "-m", "microbss", "engine", "serve"],
        env=env,
        stdout=logs[0],
        stderr=subprocess.STDOUT,
    )
    crm = subprocess.Popen(
        [sys.executable, "-m", "microbss", "crm", "serve"],
        env=env,
        stdout=logs[1],
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_engine(engine_addr, token, engine)
        _wait_for_http(f"{stack.crm_url}/accounts/login/", crm)
        yield stack
    finally:
        for proc in (crm, engine):
            proc.terminate()
        for proc in (crm, engine):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for log in logs:
            log.close()


@pytest.fixture(scope="session")
def browser(live_stack: LiveStack) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()
