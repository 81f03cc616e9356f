import pytest
from hypothesis import HealthCheck, settings

# Deterministic by default: the same examples on every run and machine; no per-example deadline
# (the first call of a run loads the network).
settings.register_profile(
    "deterministic",
    derandomize=True,
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", deadline=None, max_examples=300)
settings.load_profile("deterministic")


class Counted:
    """Wrap a callable and count its calls (the truth that nfev/njev are checked against)."""

    def __init__(self, fn):
        self.fn = fn
        self.calls = 0

    def __call__(self, *args):
        self.calls += 1
        return self.fn(*args)


@pytest.fixture
def counted():
    return Counted


@pytest.fixture
def one_torch_thread():
    """Tiny tensors: one intra-op thread is much faster than several on a shared CPU."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
