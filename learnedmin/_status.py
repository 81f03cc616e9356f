"""The one status table: every ``status`` a run can end with, and its message."""

# A row of a batch that is still iterating (never a final status).
RUNNING = -1
SUCCESS = 0
MAXITER = 1
PRECISION_LOSS = 2
NONFINITE = 3
CALLBACK_STOP = 99

MESSAGES = {
    SUCCESS: "Optimization terminated successfully.",
    MAXITER: "Maximum number of iterations has been exceeded.",
    PRECISION_LOSS: "Desired error not necessarily achieved due to precision loss.",
    NONFINITE: "NaN or infinite value encountered in `fun` or `jac` at the current point.",
    CALLBACK_STOP: "`callback` raised `StopIteration`.",
}
