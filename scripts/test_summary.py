"""Add up the JUnit reports of all `make test` phases into one closing line.

Prints "tests: N passed, N failed, N skipped" and exits 1 if anything failed or errored.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET  # our own pytest reports, not untrusted input
from pathlib import Path


def main(folder: str) -> int:
    total = failed = skipped = 0
    for report in sorted(Path(folder).glob("*.xml")):
        for suite in ET.parse(report).getroot().iter("testsuite"):  # noqa: S314
            total += int(suite.get("tests", 0))
            failed += int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skipped += int(suite.get("skipped", 0))
    passed = total - failed - skipped
    print()
    print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
