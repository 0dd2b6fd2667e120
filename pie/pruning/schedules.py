"""When to prune and to which cumulative sparsity: pure descriptions, no training code.

A schedule is a list of steps — prune when epoch index e ends (e = -1: before training), or when
optimizer step t has been taken — with the cumulative sparsity of the prunable set each step
reaches, plus the total number of epochs.
"""

from __future__ import annotations

from dataclasses import dataclass

BEFORE_TRAINING = -1


def check_sparsity(sparsity: float) -> float:
    """Return sparsity as float, or raise naming the allowed range."""
    value = float(sparsity)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity!r} (e.g. sparsity=0.9)")
    return value


def per_step_rate(final_sparsity: float, n_steps: int) -> float:
    """Fraction of the remaining weights to prune at each of n_steps to reach final_sparsity.

    r = 1 - (1 - s)^(1/n): three steps of 53.58% each leave 10% of the weights (s = 0.9).
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    return 1.0 - (1.0 - check_sparsity(final_sparsity)) ** (1.0 / n_steps)


@dataclass(frozen=True)
class PruningStep:
    after_epoch: int | None  # 0-based epoch index after which to prune; -1 = before training
    sparsity: float  # cumulative sparsity of the prunable set after this step
    after_step: int | None = None  # or: after this many optimizer steps (gradual schedules)


@dataclass(frozen=True)
class Schedule:
    steps: tuple[PruningStep, ...]
    max_epochs: int
    held: float = 0.0  # sparsity the run starts with and keeps when it prunes no more (a recovery run)

    @property
    def is_dense(self) -> bool:
        """Nothing pruned now or before: the run is a dense run, whatever preset composed it."""
        return not self.steps and not self.held

    @property
    def final_sparsity(self) -> float:
        return self.steps[-1].sparsity if self.steps else self.held

    def step_after(self, epoch: int) -> PruningStep | None:
        return next((s for s in self.steps if s.after_epoch == epoch), None)

    def step_at(self, global_step: int) -> PruningStep | None:
        return next((s for s in self.steps if s.after_step == global_step), None)


def dense(sparsity: float, phase_epochs: int) -> Schedule:
    """No pruning: train phase_epochs epochs (the dense population of the paper)."""
    if check_sparsity(sparsity) != 0.0:
        raise ValueError(
            f"pruning=none trains dense models, so sparsity must be 0, got {sparsity}; "
            "choose a pruning method (e.g. pruning=imp_ft) to prune"
        )
    return Schedule(steps=(), max_epochs=int(phase_epochs))


def iterative(
    sparsity: float, phase_epochs: int, n_steps: int = 3, phases: str = "reference"
) -> Schedule:
    """The paper's geometric schedule: n_steps prunes at phase boundaries, training in between.

    Each step removes per_step_rate(sparsity, n_steps) of the remaining weights. With E =
    phase_epochs the run trains (n_steps + 1) * E epochs. phases="reference" prunes after epoch
    indices E, 2E, 3E as the reference code does (dense phase E+1 epochs, last phase E-1);
    phases="equal" prunes after E-1, 2E-1, 3E-1 so every phase lasts E epochs.
    Sparsity 0 gives the dense schedule (E epochs).
    """
    sparsity = check_sparsity(sparsity)
    if sparsity == 0.0:
        return dense(0.0, phase_epochs)
    if phases not in ("reference", "equal"):
        raise ValueError(f"phases must be 'reference' or 'equal', got {phases!r}")
    if phase_epochs < 1:
        raise ValueError(f"phase_epochs must be >= 1, got {phase_epochs}")
    rate = per_step_rate(sparsity, n_steps)
    offset = 0 if phases == "reference" else -1
    steps = [
        PruningStep(after_epoch=(i + 1) * phase_epochs + offset, sparsity=1 - (1 - rate) ** (i + 1))
        for i in range(n_steps)
    ]
    steps[-1] = PruningStep(after_epoch=steps[-1].after_epoch, sparsity=sparsity)
    return Schedule(steps=tuple(steps), max_epochs=(n_steps + 1) * phase_epochs)


def at_initialisation(sparsity: float, phase_epochs: int) -> Schedule:
    """One-shot pruning before training, then phase_epochs epochs (MP-AI, IBP-AI, RP-AI)."""
    sparsity = check_sparsity(sparsity)
    if sparsity == 0.0:
        return dense(sparsity, phase_epochs)
    return Schedule(
        steps=(PruningStep(after_epoch=BEFORE_TRAINING, sparsity=sparsity),),
        max_epochs=int(phase_epochs),
    )


def after_training(sparsity: float, phase_epochs: int, finetune_epochs: int) -> Schedule:
    """One-shot pruning at the end of dense training (after E epochs), then fine-tuning."""
    sparsity = check_sparsity(sparsity)
    if sparsity == 0.0:
        return dense(0.0, phase_epochs)
    return Schedule(
        steps=(PruningStep(after_epoch=int(phase_epochs) - 1, sparsity=sparsity),),
        max_epochs=int(phase_epochs) + int(finetune_epochs),
    )


def gradual(
    sparsity: float, begin_step: int, end_step: int, frequency: int, max_epochs: int, initial_sparsity: float = 0.0
) -> Schedule:
    """Zhu & Gupta's (2017) gradual schedule, as used by Hooker et al.: every `frequency` optimizer
    steps from begin_step to end_step, s(t) = s_f + (s_i - s_f) * (1 - (t - t0) / (t_end - t0))^3.
    A step at t = 0 prunes before training; end_step is always a step, reaching s_f exactly."""
    sparsity = check_sparsity(sparsity)
    if sparsity == 0.0:
        return dense(0.0, max_epochs)
    if not 0 <= begin_step < end_step or frequency < 1:
        raise ValueError(
            f"gradual schedule needs 0 <= begin_step < end_step and frequency >= 1, got "
            f"begin_step={begin_step}, end_step={end_step}, frequency={frequency}"
        )
    if not 0.0 <= initial_sparsity < sparsity:
        raise ValueError(f"initial_sparsity must be in [0, sparsity={sparsity}), got {initial_sparsity}")
    span = end_step - begin_step
    times = sorted(set(range(begin_step, end_step, frequency)) | {end_step})
    steps = []
    for t in times:
        target = sparsity + (initial_sparsity - sparsity) * (1 - (t - begin_step) / span) ** 3
        if target > 0:
            at = {"after_epoch": BEFORE_TRAINING} if t == 0 else {"after_epoch": None, "after_step": t}
            steps.append(PruningStep(sparsity=target, **at))
    return Schedule(steps=tuple(steps), max_epochs=int(max_epochs))


def branch(sparsity: float, finetune_epochs: int, n_steps: int = 1) -> Schedule:
    """For prune.py: prune a trained dense model before fine-tuning, then after every
    finetune_epochs epochs until n_steps prunes are done (geometric rate per step): an iterative
    method's branch takes its own number of steps, a one-shot method's one."""
    sparsity = check_sparsity(sparsity)
    if sparsity == 0.0:
        raise ValueError("a pruned branch needs sparsity > 0 (the dense run is the sparsity-0 population)")
    if finetune_epochs < 1 or n_steps < 1:
        raise ValueError(f"finetune_epochs and n_steps must be >= 1, got {finetune_epochs}, {n_steps}")
    rate = per_step_rate(sparsity, n_steps)
    steps = [
        PruningStep(after_epoch=i * finetune_epochs - 1, sparsity=1 - (1 - rate) ** (i + 1))
        for i in range(n_steps)
    ]
    steps[-1] = PruningStep(after_epoch=steps[-1].after_epoch, sparsity=sparsity)
    return Schedule(steps=tuple(steps), max_epochs=n_steps * finetune_epochs)


def gradual_branch(sparsity: float, finetune_epochs: int, begin_step: int, end_step: int, frequency: int) -> Schedule:
    """For prune.py: the gradual schedule run while fine-tuning a trained dense model."""
    return gradual(sparsity, begin_step, end_step, frequency, max_epochs=finetune_epochs)


def no_branch(reason: str, **_) -> Schedule:
    """For prune.py: a method that has no branch from a trained model refuses with its reason."""
    raise ValueError(reason)


def hold(sparsity: float, epochs: int) -> Schedule:
    """For recover.py: train a pruned model `epochs` epochs with its masks as they are (no prune)."""
    sparsity = check_sparsity(sparsity)
    if sparsity == 0.0 or epochs < 1:
        raise ValueError(f"a recovery run holds a pruned model's masks: sparsity > 0 and epochs >= 1, got {sparsity}, {epochs}")
    return Schedule(steps=(), max_epochs=int(epochs), held=sparsity)
