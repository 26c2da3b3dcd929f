"""What import-linter cannot see: the local cloud's tables are read and written by the local cloud
package alone (the emulator too goes through its inventory module)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCAL_TABLES = re.compile(r"\b(lc_resources|lc_regions|lc_faults|lc_throttle|lc_image_disks|kube_objects|kube_changes"
                          r"|kube_compaction)\b")  # fmt: skip
PRODUCT = ("libs", "services", "drivers", "cli")


def test_only_the_local_cloud_package_touches_its_tables():
    offenders = [
        str(path.relative_to(ROOT))
        for folder in PRODUCT
        for path in (ROOT / folder).rglob("*.py")
        if LOCAL_TABLES.search(path.read_text())
    ]
    assert offenders == []
    assert LOCAL_TABLES.search((ROOT / "localcloud/src/strata_localcloud/inventory.py").read_text())
