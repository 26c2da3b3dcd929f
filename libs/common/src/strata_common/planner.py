"""The planner: a pure function from a cluster's desired spec to the steps that make it so.

Steps exist for what Strata can do today; the image, infrastructure and add-on issues add theirs.
"""

from __future__ import annotations

from typing import Any

from strata_common.engine.model import StepSpec


def plan_cluster(spec: dict[str, Any]) -> list[StepSpec]:
    """Steps that bring a cluster to its spec."""
    if spec.get("deleting"):
        return [StepSpec("finalize_delete", "provisioner", "Ready")]
    return []
