"""The one status table: every ``status`` a run can end with, and its message."""

# A row of a batch that is still iterating (never a final status).
RUNNING = -1
SUCCESS = 0
MAXITER = 1
PRECISION_LOSS = 2
NONFINITE = 3
BUDGET = 4
CALLBACK_STOP = 99

MESSAGES = {
    SUCCESS: "Optimization terminated successfully.",
    MAXITER: "Maximum number of iterations has been exceeded.",
    PRECISION_LOSS: "Desired error not necessarily achieved due to precision loss.",
    NONFINITE: "NaN or infinite value encountered in `fun` or `jac` at the current point.",
    BUDGET: "The evaluation budget (option `budget`) has been spent.",
    CALLBACK_STOP: "`callback` raised `StopIteration`.",
}


# A run that ends at the iteration limit or with precision loss where `fun` was NaN or infinite
# at this fraction of its trial points (or more) was held back by where `fun` is not finite: its
# message says so. The status stays the one that ended the run, as in SciPy.
NONFINITE_TRIALS_FRACTION = 0.1
NONFINITE_TRIALS = (" `fun` was NaN or infinite at {count} of {total} trial points: a region "
                    "where it is not finite lies next to the path and held the iterates back.")


def message(status, nonfinite=0, total=0):
    """The message of ``status``; ``nonfinite`` of the run's ``total`` trial points had a
    non-finite value of `fun`, noted where that explains the end."""
    text = MESSAGES[status]
    if (status in (MAXITER, PRECISION_LOSS) and total > 0
            and nonfinite >= NONFINITE_TRIALS_FRACTION * total):
        text += NONFINITE_TRIALS.format(count=nonfinite, total=total)
    return text
