"""learnedmin: a learned step rule for :func:`scipy.optimize.minimize`.

>>> from scipy.optimize import minimize, rosen, rosen_der
>>> from learnedmin import learned
>>> res = minimize(rosen, [-1.2, 1.0], jac=rosen_der, method=learned)

``import learnedmin`` is light: torch is imported when a network is first used, and the training
subpackage (:mod:`learnedmin.training`) only when it is imported explicitly.
"""

__version__ = "0.1.0"

from .policy import FixedWeights  # noqa: E402
from .method import LearnedMinimizer, learned  # noqa: E402
from .weights import WeightsError  # noqa: E402
from .batch import minimize_batch  # noqa: E402
from .gauss_newton import GaussNewton  # noqa: E402

__all__ = ["learned", "LearnedMinimizer", "FixedWeights", "WeightsError", "minimize_batch",
           "GaussNewton", "__version__"]
