"""Independent, reproducible seeds derived from the base seed and a purpose path.

The original code used the same seed for every trial; here trial 3's init seed is
``derive(seed, "trial", 3, "init")``, so trials are independent yet reproducible.
"""

from __future__ import annotations

import hashlib


def derive(base: int, *path: object) -> int:
    """A 63-bit seed determined by `base` and the purpose path (e.g. "trial", 2, "init")."""
    text = "/".join([str(base), *map(str, path)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1
