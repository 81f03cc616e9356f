"""Seeds of the training's random draws: one integer per draw, mixed from the config's seed."""

__all__ = ["mix"]


def mix(*values):
    """A 63-bit seed from integers (splitmix64 finaliser over a running combination)."""
    z = 0x9E3779B97F4A7C15
    for v in values:
        z = (z ^ (int(v) + 0x9E3779B97F4A7C15 + (z << 6) + (z >> 2))) & 0xFFFFFFFFFFFFFFFF
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB & 0xFFFFFFFFFFFFFFFF
        z ^= z >> 31
    return z & 0x7FFFFFFFFFFFFFFF
