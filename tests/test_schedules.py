"""Pruning schedules: the paper's geometric rate, iterative, at-initialisation, dense, after-training,
gradual (Zhu & Gupta) and prune.py's branch schedules, as pure step lists."""

from __future__ import annotations

import math

import pytest

from pie.pruning import schedules
from pie.pruning.schedules import BEFORE_TRAINING, PruningStep, Schedule, after_training, at_initialisation, branch, dense, gradual, iterative, per_step_rate


@pytest.mark.parametrize(
    "sparsity, percent",
    [(0.2, 7.1682), (0.5, 20.6299), (0.7, 33.0567), (0.9, 53.5841), (0.99, 78.4557)],
)
def test_per_step_rate_paper_table(sparsity, percent):
    """Per-step rates for 3 steps match the paper's table (percent, 4 decimals)."""
    assert per_step_rate(sparsity, 3) * 100 == pytest.approx(percent, abs=1e-3)


@pytest.mark.parametrize("sparsity", [0.0, 0.2, 0.5, 0.7, 0.9, 0.99])
def test_per_step_rate_three_times_gives_back_sparsity(sparsity):
    """Removing r of the remaining weights 3 times leaves 1 - s of them."""
    r = per_step_rate(sparsity, 3)
    assert 1 - (1 - r) ** 3 == pytest.approx(sparsity, abs=1e-12)


def test_per_step_rate_one_step_is_the_sparsity():
    """With one step the rate is the target itself."""
    assert per_step_rate(0.9, 1) == pytest.approx(0.9)
    assert per_step_rate(0.9, 2) == pytest.approx(1 - math.sqrt(0.1))


@pytest.mark.parametrize("n_steps", [0, -1])
def test_per_step_rate_rejects_bad_n_steps(n_steps):
    """n_steps < 1 raises ValueError naming n_steps."""
    with pytest.raises(ValueError, match="n_steps"):
        per_step_rate(0.5, n_steps)


@pytest.mark.parametrize("sparsity", [1.0, -0.1, 1.5])
def test_sparsity_out_of_range_raises(sparsity):
    """Sparsity outside [0, 1) raises ValueError mentioning "sparsity" in every schedule."""
    with pytest.raises(ValueError, match="sparsity"):
        per_step_rate(sparsity, 3)
    with pytest.raises(ValueError, match="sparsity"):
        iterative(sparsity, phase_epochs=2)
    with pytest.raises(ValueError, match="sparsity"):
        at_initialisation(sparsity, phase_epochs=2)
    with pytest.raises(ValueError, match="sparsity"):
        dense(sparsity, phase_epochs=2)


def test_iterative_reference_phases():
    """phases="reference": prune after epochs E, 2E, 3E to 1-(1-r)^i; last step exactly s."""
    schedule = iterative(0.9, phase_epochs=2, n_steps=3, phases="reference")
    assert [s.after_epoch for s in schedule.steps] == [2, 4, 6]
    kept = 0.1 ** (1 / 3)  # 1 - r = 0.464159
    expected = [1 - kept, 1 - kept**2, 0.9]
    assert [s.sparsity for s in schedule.steps] == pytest.approx(expected, abs=1e-12)
    assert schedule.steps[0].sparsity == pytest.approx(0.535841, abs=1e-6)
    assert schedule.steps[1].sparsity == pytest.approx(0.784557, abs=1e-6)
    assert schedule.steps[-1].sparsity == 0.9  # exactly, not 1 - (1 - r)^3
    assert schedule.final_sparsity == 0.9
    assert schedule.max_epochs == 8


def test_iterative_default_is_reference_with_three_steps():
    """Defaults: n_steps=3, phases="reference"."""
    schedule = iterative(0.5, phase_epochs=3)
    assert [s.after_epoch for s in schedule.steps] == [3, 6, 9]
    assert schedule.max_epochs == 12
    assert schedule.steps[-1].sparsity == 0.5


def test_iterative_equal_phases():
    """phases="equal": prune after E-1, 2E-1, 3E-1; same sparsities and epochs."""
    schedule = iterative(0.7, phase_epochs=4, n_steps=3, phases="equal")
    assert [s.after_epoch for s in schedule.steps] == [3, 7, 11]
    r = per_step_rate(0.7, 3)
    assert [s.sparsity for s in schedule.steps] == pytest.approx([r, 1 - (1 - r) ** 2, 0.7])
    assert schedule.max_epochs == 16


def test_iterative_step_after():
    """step_after(epoch) finds the step pruned after that epoch, else None."""
    schedule = iterative(0.9, phase_epochs=2)
    assert schedule.step_after(4) == schedule.steps[1]
    assert schedule.step_after(3) is None
    assert schedule.step_after(-1) is None


def test_iterative_zero_sparsity_is_dense():
    """Sparsity 0 gives no pruning steps and E epochs."""
    schedule = iterative(0.0, phase_epochs=5)
    assert schedule.steps == ()
    assert schedule.max_epochs == 5
    assert schedule.final_sparsity == 0.0


def test_iterative_rejects_bad_phases_and_epochs():
    """Unknown phases or phase_epochs < 1 raise ValueError."""
    with pytest.raises(ValueError, match="phases"):
        iterative(0.5, phase_epochs=2, phases="uneven")
    with pytest.raises(ValueError, match="phase_epochs"):
        iterative(0.5, phase_epochs=0)


def test_at_initialisation():
    """One step before training (after_epoch -1) to s, then E epochs."""
    schedule = at_initialisation(0.9, phase_epochs=3)
    assert schedule.steps == (PruningStep(after_epoch=-1, sparsity=0.9),)
    assert BEFORE_TRAINING == -1
    assert schedule.max_epochs == 3
    assert schedule.step_after(BEFORE_TRAINING).sparsity == 0.9
    assert at_initialisation(0.0, phase_epochs=3).steps == ()


def test_dense_zero_sparsity():
    """dense(0, E): no steps, E epochs, final sparsity 0."""
    schedule = dense(0.0, 4)
    assert schedule.steps == ()
    assert schedule.max_epochs == 4
    assert schedule.final_sparsity == 0.0


@pytest.mark.parametrize("sparsity", [0.5, 0.9, 0.2])
def test_dense_rejects_nonzero_sparsity(sparsity):
    """Dense training with sparsity != 0 raises a ValueError naming pruning=none."""
    with pytest.raises(ValueError, match="pruning=none"):
        dense(sparsity, 4)
    assert schedules.dense is dense


# =============================================================================================
# schedules


def test_after_training_single_step_then_finetune():
    """One prune after epoch E-1 to s; E + F epochs in total."""
    schedule = after_training(0.7, phase_epochs=3, finetune_epochs=2)
    assert schedule.steps == (PruningStep(after_epoch=2, sparsity=0.7),)
    assert schedule.max_epochs == 5
    assert schedule.final_sparsity == 0.7
    assert schedule.step_after(2) == PruningStep(after_epoch=2, sparsity=0.7)
    assert schedule.step_after(1) is None and schedule.step_after(4) is None
    assert schedule.step_at(2) is None  # epoch-based, not step-based


def test_after_training_zero_sparsity_is_dense():
    """s = 0: no pruning steps; the dense schedule of E epochs."""
    schedule = after_training(0.0, phase_epochs=3, finetune_epochs=2)
    assert schedule.steps == ()
    assert schedule.final_sparsity == 0.0
    assert schedule.max_epochs == 3


def test_after_training_rejects_out_of_range_sparsity():
    """Sparsity 1 raises ValueError."""
    with pytest.raises(ValueError, match="sparsity"):
        after_training(1.0, phase_epochs=3, finetune_epochs=2)


def test_gradual_cubic_values_every_25_steps():
    """s=0.9, t=0..100 by 25: 0 at t=0 is skipped; 0.9(1-0.75^3), 0.9(1-0.5^3), 0.9(1-0.25^3), 0.9."""
    schedule = gradual(0.9, begin_step=0, end_step=100, frequency=25, max_epochs=3)
    assert [s.after_step for s in schedule.steps] == [25, 50, 75, 100]
    assert all(s.after_epoch is None for s in schedule.steps)
    expected = [0.5203125, 0.7875, 0.8859375, 0.9]  # 0.9*0.578125, 0.9*0.875, 0.9*0.984375
    assert [s.sparsity for s in schedule.steps] == pytest.approx(expected, abs=1e-12)
    assert schedule.steps[-1].sparsity == 0.9  # exactly
    assert schedule.final_sparsity == 0.9
    assert schedule.max_epochs == 3


def test_gradual_is_strictly_increasing_and_step_based():
    """Targets increase strictly; step_at finds them, step_after never does."""
    schedule = gradual(0.9, begin_step=0, end_step=100, frequency=25, max_epochs=3)
    targets = [s.sparsity for s in schedule.steps]
    assert all(a < b for a, b in zip(targets, targets[1:]))
    assert schedule.step_at(50) == PruningStep(after_epoch=None, sparsity=0.7875, after_step=50)
    assert schedule.step_at(51) is None and schedule.step_at(0) is None
    assert all(schedule.step_after(e) is None for e in range(-1, 3))


def test_gradual_end_step_not_on_frequency_grid_is_appended():
    """0..10 by 3: t=3,6,9 from the formula (span 10), then end_step 10 at exactly s."""
    schedule = gradual(0.9, begin_step=0, end_step=10, frequency=3, max_epochs=1)
    assert [s.after_step for s in schedule.steps] == [3, 6, 9, 10]
    # 0.9(1-0.7^3) = 0.5913, 0.9(1-0.4^3) = 0.8424, 0.9(1-0.1^3) = 0.8991
    assert [s.sparsity for s in schedule.steps] == pytest.approx([0.5913, 0.8424, 0.8991, 0.9], abs=1e-12)
    assert schedule.steps[-1].sparsity == 0.9


def test_gradual_with_begin_step_offset():
    """begin 10, end 20, every 5: t=10 gives 0 (skipped), t=15 gives 0.5(1-0.5^3)=0.4375, t=20 0.5."""
    schedule = gradual(0.5, begin_step=10, end_step=20, frequency=5, max_epochs=2)
    assert schedule.steps == (
        PruningStep(after_epoch=None, sparsity=0.4375, after_step=15),
        PruningStep(after_epoch=None, sparsity=0.5, after_step=20),
    )


def test_gradual_with_initial_sparsity():
    """s_i=0.5, s_f=0.9 over 10..14 by 2: 0.5 at t=10, 0.9-0.4*0.5^3=0.85 at t=12, 0.9 at t=14."""
    schedule = gradual(0.9, begin_step=10, end_step=14, frequency=2, max_epochs=1, initial_sparsity=0.5)
    assert [s.after_step for s in schedule.steps] == [10, 12, 14]
    assert [s.sparsity for s in schedule.steps] == pytest.approx([0.5, 0.85, 0.9], abs=1e-12)


def test_gradual_zero_sparsity_is_dense():
    """s = 0 gives no steps and max_epochs epochs."""
    schedule = gradual(0.0, begin_step=0, end_step=10, frequency=2, max_epochs=4)
    assert schedule.steps == () and schedule.max_epochs == 4


@pytest.mark.parametrize(
    "begin, end, frequency",
    [(-1, 10, 2), (5, 5, 1), (10, 5, 1), (0, 10, 0), (0, 10, -3)],
)
def test_gradual_rejects_bad_step_arguments(begin, end, frequency):
    """begin < 0, begin >= end or frequency < 1 raise ValueError."""
    with pytest.raises(ValueError, match="begin_step"):
        gradual(0.9, begin_step=begin, end_step=end, frequency=frequency, max_epochs=1)


def test_gradual_rejects_out_of_range_sparsity():
    """Final sparsity 1 raises ValueError."""
    with pytest.raises(ValueError, match="sparsity"):
        gradual(1.0, begin_step=0, end_step=10, frequency=2, max_epochs=1)


def test_gradual_frequency_longer_than_span_still_ends_at_target():
    """Frequency 20 over 0..10: the only grid point is t=0 (target 0), so the end step alone
    remains: one step to s at end_step (not an IndexError)."""
    schedule = gradual(0.9, begin_step=0, end_step=10, frequency=20, max_epochs=1)
    assert schedule.steps == (PruningStep(after_epoch=None, sparsity=0.9, after_step=10),)


def test_gradual_after_steps_are_unique():
    """With begin_step=0 and initial_sparsity > 0, t=0 is moved to step 1; it must not collide with
    the t=1 step (step_at returns only the first step at a global step, dropping the other)."""
    schedule = gradual(0.9, begin_step=0, end_step=4, frequency=1, max_epochs=1, initial_sparsity=0.5)
    after_steps = [s.after_step for s in schedule.steps]
    assert len(after_steps) == len(set(after_steps)), after_steps


def test_gradual_rejects_initial_sparsity_above_final():
    """initial_sparsity 0.95 > sparsity 0.9 gives decreasing targets that masks (never regrown)
    cannot follow; it should raise ValueError."""
    with pytest.raises(ValueError):
        gradual(0.9, begin_step=10, end_step=20, frequency=5, max_epochs=1, initial_sparsity=0.95)


def test_branch_three_steps():
    """s=0.9, F=2, n=3: prune before training, after epochs 1 and 3; 1-(1-r)^i; 6 epochs."""
    schedule = branch(0.9, finetune_epochs=2, n_steps=3)
    assert [s.after_epoch for s in schedule.steps] == [-1, 1, 3]
    assert all(s.after_step is None for s in schedule.steps)
    r = per_step_rate(0.9, 3)
    assert [s.sparsity for s in schedule.steps] == pytest.approx([1 - (1 - r), 1 - (1 - r) ** 2, 0.9], abs=1e-12)
    assert schedule.steps[0].sparsity == pytest.approx(0.535841, abs=1e-6)
    assert schedule.steps[1].sparsity == pytest.approx(0.784557, abs=1e-6)
    assert schedule.steps[-1].sparsity == 0.9
    assert schedule.max_epochs == 6
    assert schedule.step_after(-1) is schedule.steps[0]


def test_branch_one_step():
    """n=1: a single prune before training to exactly s; F epochs."""
    schedule = branch(0.5, finetune_epochs=3)
    assert schedule.steps == (PruningStep(after_epoch=-1, sparsity=0.5),)
    assert schedule.max_epochs == 3


def test_branch_two_steps_epoch_spacing():
    """F=4, n=2: after epochs -1 and 3; 1-sqrt(0.25)=0.5 then 0.75; 8 epochs."""
    schedule = branch(0.75, finetune_epochs=4, n_steps=2)
    assert [s.after_epoch for s in schedule.steps] == [-1, 3]
    assert [s.sparsity for s in schedule.steps] == pytest.approx([0.5, 0.75], abs=1e-12)
    assert schedule.max_epochs == 8


@pytest.mark.parametrize("kwargs", [dict(sparsity=0.0, finetune_epochs=2), dict(sparsity=0.5, finetune_epochs=0),
                                    dict(sparsity=0.5, finetune_epochs=2, n_steps=0), dict(sparsity=1.0, finetune_epochs=2)])
def test_branch_rejects_bad_arguments(kwargs):
    """s=0, s=1, F<1 or n<1 raise ValueError."""
    with pytest.raises(ValueError):
        branch(**kwargs)


def test_schedule_step_at_and_step_after_are_independent():
    """step_at matches after_step only; step_after matches after_epoch only; first match wins."""
    a = PruningStep(after_epoch=0, sparsity=0.2)
    b = PruningStep(after_epoch=None, sparsity=0.5, after_step=7)
    c = PruningStep(after_epoch=None, sparsity=0.6, after_step=7)
    schedule = Schedule(steps=(a, b, c), max_epochs=2)
    assert schedule.step_at(7) is b
    assert schedule.step_at(0) is None
    assert schedule.step_after(0) is a
    assert schedule.step_after(7) is None
    assert schedule.final_sparsity == 0.6
    assert Schedule(steps=(), max_epochs=1).final_sparsity == 0.0
