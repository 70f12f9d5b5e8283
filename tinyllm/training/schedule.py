"""Learning-rate schedules as pure functions of the step: linear warmup, then cosine, linear or constant.

Step numbering starts at 0 (the first optimizer step). Warmup ramps lr * (step + 1) / (warmup_iters + 1), so the
first step already moves (never lr = 0) and step == warmup_iters lands exactly on lr. The decay phase runs from
warmup_iters to decay_iters and ends exactly at min_lr; after decay_iters the rate stays at min_lr.

    cosine:   min_lr + 0.5 * (1 + cos(pi * r)) * (lr - min_lr),  r = (step - warmup) / (decay - warmup) in [0, 1]
    linear:   min_lr + (1 - r) * (lr - min_lr)
    constant: lr (min_lr and decay_iters are ignored)
"""
import math

SCHEDULES = ("cosine", "linear", "constant")


def lr_at(step, *, schedule="cosine", lr, min_lr=0.0, warmup_iters=0, decay_iters=None):
    """The learning rate to use at optimizer step `step` (0-based)."""
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be an integer >= 0, got {step!r}")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    if not lr >= 0:
        raise ValueError(f"lr must be >= 0, got {lr!r}")
    if not 0 <= min_lr <= lr:
        raise ValueError(f"min_lr must be in [0, lr={lr}], got {min_lr!r}")
    if warmup_iters < 0:
        raise ValueError(f"warmup_iters must be >= 0, got {warmup_iters!r}")
    if schedule != "constant" and (decay_iters is None or decay_iters <= warmup_iters):
        raise ValueError(f"decay_iters must be > warmup_iters={warmup_iters} for the {schedule} schedule, "
                         f"got {decay_iters!r}")
    if step < warmup_iters:
        return lr * (step + 1) / (warmup_iters + 1)
    if schedule == "constant":
        return lr
    if step >= decay_iters:
        return min_lr
    r = (step - warmup_iters) / (decay_iters - warmup_iters)  # 0 at the end of warmup, -> 1 at decay_iters
    if schedule == "cosine":
        coeff = 0.5 * (1.0 + math.cos(math.pi * r))
    else:
        coeff = 1.0 - r
    return min_lr + coeff * (lr - min_lr)
