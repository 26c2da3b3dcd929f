"""Pure parts of the engine: plan validation, backoff, handler lookup."""

import pytest

from strata_common.engine.model import StepSpec, validate_plan
from strata_common.engine.registry import handler_for, step_handler
from strata_common.engine.runner import backoff_delay


def test_plan_rejects_cycles_unknown_dependencies_and_duplicates():
    a = StepSpec("a", "provisioner", depends_on=("b",))
    b = StepSpec("b", "provisioner", depends_on=("a",))
    with pytest.raises(ValueError, match="cycle"):
        validate_plan([a, b])
    with pytest.raises(ValueError, match="unknown steps"):
        validate_plan([StepSpec("a", "provisioner", depends_on=("zzz",))])
    with pytest.raises(ValueError, match="duplicate"):
        validate_plan([StepSpec("a", "addons"), StepSpec("a", "addons")])
    validate_plan([StepSpec("a", "provisioner"), StepSpec("b", "addons", depends_on=("a",))])


def test_specs_name_real_queues_and_milestones():
    with pytest.raises(ValueError, match="queue"):
        StepSpec("a", "nowhere")
    with pytest.raises(ValueError, match="condition"):
        StepSpec("a", "provisioner", "Done")


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap():
    assert backoff_delay(1, 2, 300, rand=lambda: 0.0) == 1.0
    assert backoff_delay(1, 2, 300, rand=lambda: 1.0) == 2.0
    assert backoff_delay(4, 2, 300, rand=lambda: 1.0) == 16.0
    assert backoff_delay(30, 2, 300, rand=lambda: 1.0) == 300.0
    assert 150.0 <= backoff_delay(30, 2, 300) <= 300.0


def test_one_handler_serves_every_instance_of_a_step():
    @step_handler("addons", "unit.apply")
    def apply(ctx):
        return None

    assert handler_for("addons", "unit.apply") is apply
    assert handler_for("addons", "unit.apply/prometheus") is apply
    assert handler_for("provisioner", "unit.apply") is None
