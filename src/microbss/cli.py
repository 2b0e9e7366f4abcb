"""The `microbss` command: `microbss engine ...`, `microbss crm ...` and `microbss run`."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["engine"]:
        from microbss.engine.cli import main as engine_main

        return engine_main(argv[1:])
    if argv[:1] == ["crm"]:
        from microbss.crm.cli import main as crm_main

        return crm_main(argv[1:])
    if argv[:1] == ["grpc"]:
        from microbss.reflection_client import main as grpc_main

        return grpc_main(argv[1:])
    if argv[:1] == ["run"]:
        from microbss.launcher import main as run_main

        return run_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="microbss",
        description="microbss telecom BSS. Commands: engine (charging engine), crm (web app), "
        "run (everything, with demo data, for a first look), "
        "grpc (a reflection-based gRPC client).",
    )
    parser.add_argument("area", choices=["engine", "crm", "run", "grpc"])
    parser.parse_args(argv or ["--help"])
    return 2


if __name__ == "__main__":
    sys.exit(main())
