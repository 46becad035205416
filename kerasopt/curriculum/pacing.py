"""Pacing functions: the share of the training set, easiest first, used at each epoch.

A pacing function g maps an epoch index t = 0, 1, 2, ... to a share in (0, 1]; the sampler
(`kerasopt.curriculum.CurriculumSampler`) trains epoch t on the ceil(g(t) · N) easiest of
the N examples. Every function here starts at `start` and reaches 1 (all the data) for
good. Hacohen & Weinshall 2019 (sec. 2) define pacing in training iterations; here one unit
of t is one epoch of the sampler (its batches per epoch stay fixed, so that is a fixed
number of iterations).

Plain Python on the host (evaluated once per epoch): backend-neutral.
"""

import math

import keras

from kerasopt._validation import check_int, check_range


class _Pacing:
    """Shared parts: argument `start`, call-time check of `t`, `get_config`."""

    def __init__(self, start):
        self.start = float(check_range("start", start, 0.0, 1.0, low_inclusive=False))

    def __call__(self, t):
        check_int("t", t, minimum=0)
        return min(1.0, self.share(t))

    def share(self, t):
        raise NotImplementedError

    def full_epoch(self):
        """The first epoch that trains on all the data."""
        t = 0
        while self(t) < 1.0:
            t += 1
        return t

    def get_config(self):
        return {"start": self.start}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


@keras.saving.register_keras_serializable(package="kerasopt")
class LinearPacing(_Pacing):
    """g(t) = min(1, start + (1 − start) · t / full_at): a straight line from `start` to 1.

    The linear competence of Platanios et al. 2019 (sec. 3, with c0 = start and T = full_at)
    and the "linear" family of Wu, Dyer & Neyshabur 2021 (App. A).

    Args:
        start: share at epoch 0, in (0, 1].
        full_at: first epoch with all the data, >= 1.

    Example:
        >>> [LinearPacing(0.2, full_at=4)(t) for t in range(6)]
        [0.2, 0.4, 0.6000000000000001, 0.8, 1.0, 1.0]

    References:
        Platanios et al. 2019, "Competence-based Curriculum Learning for Neural Machine
        Translation", NAACL, sec. 3. Wu, Dyer & Neyshabur 2021, "When Do Curricula Work?", ICLR.
    """

    def __init__(self, start=0.2, full_at=5):
        super().__init__(start)
        self.full_at = check_int("full_at", full_at, minimum=1)

    def share(self, t):
        return self.start + (1.0 - self.start) * t / self.full_at

    def get_config(self):
        return {**super().get_config(), "full_at": self.full_at}


@keras.saving.register_keras_serializable(package="kerasopt")
class RootPacing(_Pacing):
    """g(t) = min(1, (start^p + (1 − start^p) · t / full_at)^(1/p)): fast early growth.

    The root-p competence of Platanios et al. 2019 (sec. 3; p = 2 is their "sqrt"
    competence): the share's p-th power grows linearly, so new (harder) examples arrive quickly at
    first and slowly near the end, as each new example is a smaller part of a larger pool.

    Args:
        start: share at epoch 0, in (0, 1].
        full_at: first epoch with all the data, >= 1.
        power: p >= 1 (1 is `LinearPacing`).

    Example:
        >>> [round(RootPacing(0.2, full_at=4)(t), 4) for t in range(5)]
        [0.2, 0.5292, 0.7211, 0.8718, 1.0]

    References:
        Platanios et al. 2019, "Competence-based Curriculum Learning for Neural Machine
        Translation", NAACL, sec. 3.
    """

    def __init__(self, start=0.2, full_at=5, power=2):
        super().__init__(start)
        self.full_at = check_int("full_at", full_at, minimum=1)
        self.power = float(check_range("power", power, 1.0))

    def share(self, t):
        base = self.start**self.power
        return (base + (1.0 - base) * t / self.full_at) ** (1.0 / self.power)

    def get_config(self):
        return {**super().get_config(), "full_at": self.full_at, "power": self.power}


@keras.saving.register_keras_serializable(package="kerasopt")
class StepPacing(_Pacing):
    """g(t) = start for t < step_length, then 1: Hacohen & Weinshall's single-step pacing.

    Hacohen & Weinshall 2019 (sec. 2, "single step pacing"): train on the easiest
    `start` share for `step_length` epochs, then on everything. It is
    `ExponentialPacing` with a single step.

    Args:
        start: share during the first `step_length` epochs, in (0, 1].
        step_length: epochs before the whole set is used, >= 1.

    Example:
        >>> [StepPacing(0.3, step_length=2)(t) for t in range(4)]
        [0.3, 0.3, 1.0, 1.0]

    References:
        Hacohen & Weinshall 2019, "On the Power of Curriculum Learning in Training Deep
        Networks", ICML, sec. 2.
    """

    def __init__(self, start=0.2, step_length=3):
        super().__init__(start)
        self.step_length = check_int("step_length", step_length, minimum=1)

    def share(self, t):
        return self.start if t < self.step_length else 1.0

    def get_config(self):
        return {**super().get_config(), "step_length": self.step_length}


@keras.saving.register_keras_serializable(package="kerasopt")
class ExponentialPacing(_Pacing):
    """g(t) = min(1, start · increase^floor(t / step_length)): Hacohen & Weinshall's fixed
    exponential pacing.

    Hacohen & Weinshall 2019 (sec. 2, "fixed exponential pacing"): the pool is multiplied
    by `increase` every `step_length` epochs (their iterations), a staircase that reaches
    all the data after ceil(log(1 / start) / log(increase)) steps.

    Args:
        start: share during the first `step_length` epochs, in (0, 1] (their starting_percent).
        increase: factor > 1 of each step (their inc).
        step_length: epochs per step, >= 1.

    Example:
        >>> [ExponentialPacing(0.1, increase=2.0, step_length=2)(t) for t in range(10)]
        [0.1, 0.1, 0.2, 0.2, 0.4, 0.4, 0.8, 0.8, 1.0, 1.0]

    References:
        Hacohen & Weinshall 2019, "On the Power of Curriculum Learning in Training Deep
        Networks", ICML, sec. 2.
    """

    def __init__(self, start=0.1, increase=2.0, step_length=1):
        super().__init__(start)
        self.increase = float(check_range("increase", increase, 1.0, low_inclusive=False))
        self.step_length = check_int("step_length", step_length, minimum=1)

    def share(self, t):
        return self.start * math.pow(self.increase, t // self.step_length)

    def get_config(self):
        return {**super().get_config(), "increase": self.increase, "step_length": self.step_length}


PACINGS = {
    "linear": LinearPacing,
    "root": RootPacing,
    "step": StepPacing,
    "exponential": ExponentialPacing,
}


def get_pacing(identifier, **kwargs):
    """A pacing function from its name ("linear", "root", "step", "exponential") and arguments.

    Example:
        >>> get_pacing("step", start=0.5, step_length=1)
        StepPacing(start=0.5, step_length=1)
    """
    if isinstance(identifier, _Pacing):
        return identifier
    if identifier not in PACINGS:
        raise ValueError(
            f"Argument `pacing` must be one of {sorted(PACINGS)} or a pacing object. Received: pacing={identifier!r}"
        )
    return PACINGS[identifier](**kwargs)
