"""Weights each layer of the paper's MLP keeps under our pruning rule and under the original's.

Ours keeps round(n * (1 - rate) ** level) of a layer's n weights. The original
(experiments/pruning.py of justincosentino/robust-sparse-networks) sorts the survivors'
magnitudes, takes the one at index round(rate * survivors) as the cutoff and prunes every
weight <= it: round(rate * survivors) + 1 weights per level (no ties), numpy's round (half to
even). Prints a Markdown table for docs/faithfulness.md.

    python scripts/replication/prune_counts.py
"""

from __future__ import annotations

import numpy as np

LAYERS = {"784x300": (784 * 300, 0.2), "300x100": (300 * 100, 0.2), "100x10": (100 * 10, 0.1)}
LEVELS = (3, 8, 11, 15, 18)  # the paper's table columns


def main() -> None:
    total = sum(n for n, _ in LAYERS.values())
    original = {name: n for name, (n, _) in LAYERS.items()}
    heads = " | ".join(f"{k} ours / original" for k in LAYERS)
    print(f"| level | {heads} | % left ours / original |")
    print("|---" * (len(LAYERS) + 2) + "|")
    for level in range(1, max(LEVELS) + 1):
        for name, (_, rate) in LAYERS.items():
            original[name] -= int(np.round(rate * original[name])) + 1
        if level not in LEVELS:
            continue
        ours = {name: round(n * (1 - rate) ** level) for name, (n, rate) in LAYERS.items()}
        cells = " | ".join(f"{ours[k]:,} / {original[k]:,}" for k in LAYERS)
        left = [100 * sum(counts.values()) / total for counts in (ours, original)]
        share = f"{left[0]:.2f} / {left[1]:.2f}"
        print(f"| {level} | {cells} | {share} |")


if __name__ == "__main__":
    main()
