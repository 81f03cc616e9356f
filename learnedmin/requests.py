"""What the iteration asks of a driver: the points it needs evaluated.

The iteration (:mod:`learnedmin.step`) and its search (:mod:`learnedmin.search`) never call a
user's function. They are generators that *yield* a :class:`Request` and are sent its answer;
a driver (:func:`learnedmin.loop.run` for SciPy, :func:`learnedmin.minimize_batch`, the training
unroll) owns the calls, the counting and the copies. Rows not named in ``rows`` must not be
evaluated; their entries in the answer are ignored (drivers fill them with NaN).

* ``"f"``: ``f(x)`` on ``rows``; answer an array (B,).
* ``"g"``: ``g(x)`` on ``rows`` (``f`` holds ``f(x)``, for forward differences); answer (B, n).
* ``"fg"``: ``f(x)``, and ``g(x)`` where ``f`` is finite; answer the pair ``(f, g)``.
* ``"hess"``: the Hessian at ``x`` for the products that follow (one ``hess`` call, if one is
  given); answer its diagonal (B, n), or ``None`` when only products are known.
* ``"hessp"``: ``H(x) v`` on ``rows``; answer (B, n).
"""

import contextlib
from typing import NamedTuple

__all__ = ["Request", "drive"]


class Request(NamedTuple):
    """One request of the iteration (see the module table)."""

    kind: str
    x: object
    rows: object
    f: object = None
    v: object = None


def drive(generator, answer, between=None):
    """Run ``generator`` to completion, answering each request with ``answer(request)``;
    return the generator's value.

    ``between``, a context-manager factory, wraps the generator's own work (not the answers):
    the drivers silence numpy's floating-point warnings in the iteration's arithmetic, never in
    user code.
    """
    if between is None:
        between = contextlib.nullcontext
    try:
        with between():
            request = next(generator)
        while True:
            reply = answer(request)
            with between():
                request = generator.send(reply)
    except StopIteration as done:
        return done.value
