"""`make bench`: run every benchmark in its own process and collect their JSON lines.

Each benchmark measures, in the same run, the ceiling it is bound by and prints the ratio, since
this machine's speed drifts. Results go to stdout and to var/bench/results.jsonl.
Run one alone with `python -m bench.<name>`; `python -m bench rpc usage_stream` runs a subset.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

BENCHMARKS = ("rpc", "cdr_load", "usage_stream", "billrun")


def main(names: list[str]) -> int:
    selected = names or list(BENCHMARKS)
    unknown = sorted(set(selected) - set(BENCHMARKS))
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2
    out_dir = Path("var/bench")
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = []
    with (out_dir / "results.jsonl").open("a") as results:
        for name in selected:
            started = time.time()
            proc = subprocess.run(
                [sys.executable, "-m", f"bench.{name}"], capture_output=True, text=True, check=False
            )
            sys.stderr.write(proc.stderr)
            for line in proc.stdout.splitlines():
                print(line, flush=True)
                if line.startswith("{"):
                    record = json.loads(line)
                    record.setdefault("at", started)
                    results.write(json.dumps(record) + "\n")
            if proc.returncode != 0:
                failed.append(name)
    if failed:
        print(f"benchmark(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
