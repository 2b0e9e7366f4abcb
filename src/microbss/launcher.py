"""`make run` / `microbss run`: everything a first look needs, on a bare machine.

Migrates both databases, loads the demo data when the engine database is empty, creates a demo
admin when the CRM has no user (its password is printed once) and a demo VAT rate when none is
recorded, starts the engine (gRPC) and the
CRM (gunicorn) as child processes, waits until both answer their health checks, prints where to
log in, and stops both on Ctrl-C (SIGINT) or SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from types import FrameType

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import func, select

from microbss.engine.config import load_settings
from microbss.engine.deps import Deps, build_deps
from microbss.engine.storage.tables import price_plans

STARTUP_TIMEOUT_S = 60
CRM_LISTEN_DEFAULT = "127.0.0.1:8000"


def _engine_is_empty(deps: Deps) -> bool:
    with deps.db.connect() as conn:
        return conn.execute(select(func.count()).select_from(price_plans)).scalar_one() == 0


def _load_demo_data_if_empty(deps: Deps) -> None:
    if not _engine_is_empty(deps):
        print("engine database has data: demo data not loaded")
        return
    from microbss.engine.jobs.demo_data import load_demo_data

    print(
        "empty engine database: loading demo catalog, inventory, subscribers, vouchers, CDRs "
        "and past bill runs (takes a few seconds)..."
    )
    report = load_demo_data(deps)
    print(report)


def _run_checked(args: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "microbss", *args], check=False)
    if result.returncode != 0:
        raise SystemExit(f"`microbss {' '.join(args)}` failed (exit {result.returncode})")


def _wait_for_engine(address: str, child: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if child.poll() is not None:
                raise SystemExit("the engine exited during start-up (see its log above)")
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1, wait_for_ready=True)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
    raise SystemExit(f"the engine did not become healthy on {address}")


def _wait_for_crm(url: str, child: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise SystemExit("the CRM exited during start-up (see its log above)")
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:  # noqa: S310 - our own URL
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the CRM did not answer on {url}")


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for child in children:
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()


def main(argv: list[str] | None = None) -> int:
    settings = load_settings()
    deps = build_deps(settings)
    _load_demo_data_if_empty(deps)
    deps.db.dispose()
    _run_checked(["crm", "migrate"])
    _run_checked(["crm", "ensure-demo-admin"])
    _run_checked(["crm", "ensure-demo-vat"])

    crm_listen = os.environ.get("MICROBSS_CRM_LISTEN", CRM_LISTEN_DEFAULT)
    crm_url = f"http://{crm_listen}/"
    children: list[subprocess.Popen[bytes]] = []

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a shell starting `make run &` hands it down ignored, and Ctrl-C must still work.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, _on_signal)
    try:
        engine = subprocess.Popen([sys.executable, "-m", "microbss", "engine", "serve"])
        children.append(engine)
        _wait_for_engine(settings.listen, engine)
        crm = subprocess.Popen([sys.executable, "-m", "microbss", "crm", "serve"])
        children.append(crm)
        _wait_for_crm(f"{crm_url}accounts/login/", crm)
        _print_banner(settings.listen, crm_url, settings.data_dir)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        print("a service stopped unexpectedly; stopping the other", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping microbss...")
        return 0
    finally:
        _stop(children)


def _print_banner(engine_addr: str, crm_url: str, data_dir: object) -> None:
    print(
        "\n"
        "============================================================\n"
        f" microbss is running\n"
        f"   CRM (web):     {crm_url}\n"
        f"   Engine (gRPC): {engine_addr}  (health + reflection: any reflection client, or\n"
        f"                  .venv/bin/microbss grpc --addr {engine_addr} list)\n"
        f"   Demo voucher PINs: {data_dir}/demo-vouchers.csv\n"
        "   Log in with the demo admin printed above at first start\n"
        "   (forgot it? `.venv/bin/microbss crm createadmin`).\n"
        "   Ctrl-C stops everything.\n"
        "============================================================",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
