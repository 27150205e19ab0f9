"""Provenance of a run says what it measured: a resumed run is marked, its train_loss covers the
whole run and its wall time only the part that ran now."""

from types import SimpleNamespace

import pytest

from verbalrec.train.provenance import run_summary, whole_run_loss

# steps 1-4 logged every 2 steps; the run was killed after step 2 and resumed
HISTORY = [{"loss": 2.0, "step": 2}, {"loss": 1.0, "step": 4}, {"train_loss": 1.0, "step": 4}]


def test_a_fresh_run_reports_its_own_loss_and_time():
    out = run_summary(1.5, SimpleNamespace(global_step=4, log_history=HISTORY), start_step=0, wall=10.0)
    assert out["resumed"] is False and out["train_loss"] == 1.5 and out["wall_s"] == 10.0
    assert out["steps_run"] == 4 and out["s_per_step"] == 2.5 and "wall_s_since_resume" not in out


def test_a_resumed_run_is_marked_and_never_passes_a_part_for_the_whole():
    # the trainer's own train_loss of a resumed call covers steps 3-4 only (1.0); the run's is 1.5
    out = run_summary(1.0, SimpleNamespace(global_step=4, log_history=HISTORY), start_step=2, wall=3.0)
    assert out["resumed"] is True and out["resumed_from_step"] == 2 and out["steps_run"] == 2
    assert out["train_loss"] == pytest.approx(1.5) and out["train_loss_since_resume"] == 1.0
    assert out["wall_s"] is None and out["wall_s_since_resume"] == 3.0 and out["s_per_step"] == 1.5


def test_whole_run_loss_weights_each_logged_loss_by_its_steps():
    assert whole_run_loss([{"loss": 3.0, "step": 1}, {"loss": 1.0, "step": 4}]) == pytest.approx(1.5)
    assert whole_run_loss([{"train_loss": 1.0, "step": 4}]) is None
