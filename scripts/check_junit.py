"""Fail CI unless the PostgreSQL half of the suite really ran (and passed) next to SQLite."""
from __future__ import annotations

import sys
import xml.etree.ElementTree as ET


def main(path: str) -> int:
    cases = ET.parse(path).getroot().iter("testcase")
    ran = {"sqlite": 0, "postgresql": 0}
    skipped_pg = 0
    for case in cases:
        name = case.get("name", "")
        for engine in ran:
            if f"[{engine}" in name or f"-{engine}]" in name or f"-{engine}-" in name:
                if case.find("skipped") is not None:
                    skipped_pg += engine == "postgresql"
                elif case.find("failure") is None and case.find("error") is None:
                    ran[engine] += 1
    print(f"check_junit: passed on sqlite={ran['sqlite']} postgresql={ran['postgresql']} "
          f"(postgresql skipped={skipped_pg})")
    if ran["postgresql"] == 0 or skipped_pg:
        print("check_junit: the PostgreSQL half of the suite did not run", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
