"""The study's files: networks.csv, cells.csv, tests.csv, table.md, one figure per setting and
the per-image file, written atomically into the output directory."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullLocator

from robust_tickets.report.study import per_image, stats
from robust_tickets.report.study.analysis import LEVEL0, Study
from robust_tickets.report.study.networks import Collected
from robust_tickets.store import atomic_write_bytes, atomic_write_text

NETWORK_FIELDS = (
    "setting", "method", "remaining", "seed", "experiment", "trial", "level", "eps", "n",
    "robust", "acc", "wilson_low", "wilson_high", "clean", "masking",
)  # fmt: skip
CELL_FIELDS = (
    "setting", "method", "remaining", "seeds", "n", "mean", "low", "high", "interval", "sd",
    "per_seed", "clean", "masking_warned", "masking_checks", "unchecked",
)  # fmt: skip
TEST_FIELDS = (
    "family", "setting", "comparison", "test", "remaining", "a", "b", "seed", "seeds", "n",
    "acc_a", "acc_b", "diff", "a_only", "b_only", "statistic", "df", "p", "p_holm",
    "p_signflip",
)  # fmt: skip
ALPHA = 0.05


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def _csv(fields: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: _text(row.get(k)) for k in fields} for row in rows)
    return buffer.getvalue()


def network_rows(study: Study) -> list[dict[str, Any]]:
    rows = []
    for cell in study.cells:
        for net in cell.networks:
            k = int(net.worst.sum())
            low, high = stats.wilson(k, net.n)
            rows.append(
                {
                    "setting": net.setting,
                    "method": net.method,
                    "remaining": cell.remaining,
                    "seed": net.seed,
                    "experiment": net.experiment,
                    "trial": net.trial,
                    "level": net.level,
                    "eps": net.eps,
                    "n": net.n,
                    "robust": k,
                    "acc": k / net.n,
                    "wilson_low": low,
                    "wilson_high": high,
                    "clean": math.nan if net.clean is None else float(net.clean.mean()),
                    "masking": "unchecked" if net.checks is None else "+".join(net.checks),
                }
            )
    return rows


def cell_rows(study: Study) -> list[dict[str, Any]]:
    rows = []
    for cell in study.cells:
        mean, low, high = cell.interval()
        warned = cell.warned()
        rows.append(
            {
                "setting": cell.setting,
                "method": cell.method,
                "remaining": cell.remaining,
                "seeds": len(cell.networks),
                "n": cell.networks[0].n,
                "mean": mean,
                "low": low,
                "high": high,
                "interval": "t" if len(cell.networks) > 1 else "wilson",
                "sd": stats.mean_sd(cell.accs)[1],
                "per_seed": ";".join(
                    f"{net.seed}:{a:.10g}" for net, a in zip(cell.networks, cell.accs, strict=True)
                ),
                "clean": cell.clean(),
                "masking_warned": sum(bool(net.checks) for net in cell.networks),
                "masking_checks": "+".join(f"{k}({v})" for k, v in warned.items()),
                "unchecked": cell.unchecked(),
            }
        )
    return rows


def masking_warnings(study: Study) -> list[str]:
    """One line per cell in which a masking check warned for some network."""
    lines = []
    for cell in study.cells:
        warned = cell.warned()
        if warned:
            count = sum(bool(net.checks) for net in cell.networks)
            checks = ", ".join(f"{k} ({v})" for k, v in warned.items())
            lines.append(
                f"masking checks warned for {count} of {len(cell.networks)} networks of "
                f"{cell.setting} {cell.method} at {cell.remaining:g}% left: {checks}"
            )
    return lines


def _pct(value: float, sign: str = "") -> str:
    """A fraction as a percentage to one decimal, ties rounded up as on paper.

    291 of 2,000 images is 14.55%; in binary 100 * 0.1455 is 14.5499..., which `:.1f` prints as
    14.5 while networks.csv's count says 14.55. Rounding the decimal value keeps them agreeing.
    """
    if math.isnan(value):
        return "—"
    exact = Decimal(repr(round(100 * value, 9)))
    rounded = exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return format(abs(rounded) if rounded == 0 else rounded, f"{sign}.1f")  # no "-0.0"


def _cell_text(study: Study, setting: str, method: str, remaining: float) -> str:
    cell = study.cell(setting, method, remaining)
    if cell is None:
        return ""
    mean, low, high = cell.interval()
    mark = " ⚠" if cell.warned() else ""
    return f"{_pct(mean)} [{_pct(low)}, {_pct(high)}] ({len(cell.networks)}){mark}"


def table_md(study: Study, collected: Collected, attacks: tuple[str, ...]) -> str:
    n = collected.networks[0].n
    params = {
        f"{a} ({p})" if p else a
        for net in collected.networks
        for a, p in sorted(net.attacks.items())
    }
    lines = [
        "# Worst-case robust accuracy of sparse networks",
        "",
        f"Robust accuracy (%) on the first {n:,} test images: an image counts only if the network "
        f"classifies it correctly and none of {', '.join(attacks)} fools it (per-image worst "
        "case). Each cell: the mean over seeds [95% t-interval across seeds] (seeds); with one "
        "seed, its Wilson interval. Per-seed accuracies with Wilson intervals: networks.csv. "
        f"Attacks and parameters used: {'; '.join(sorted(params))}. ⚠: a masking check warned "
        "for a network of the cell.",
    ]
    for setting in study.settings():
        methods = study.methods(setting)
        places = sorted({c.remaining for c in study.cells if c.setting == setting}, reverse=True)
        eps = sorted({f"{net.eps:g}" for net in study.networks if net.setting == setting})
        lines += ["", f"## {setting}", "", f"Evaluated at eps {', '.join(eps)}.", ""]
        lines.append("| % left | " + " | ".join(methods) + " |")
        lines.append("|---" * (len(methods) + 1) + "|")
        for r in places:
            row = [_cell_text(study, setting, m, r) for m in methods]
            lines.append(f"| {r:g} | " + " | ".join(row) + " |")
        dense = study.dense_cell(setting)
        if dense is not None:
            what, cell = dense
            mean, low, high = cell.interval()
            lines += ["", f"Dense network ({what}): {_pct(mean)} [{_pct(low)}, {_pct(high)}]."]
        lines += _tests_md(study, setting)
    warnings = masking_warnings(study)
    if warnings:
        lines += ["", "## Masking-check warnings", ""] + [f"- {w}" for w in warnings]
    if collected.excluded:
        lines += ["", "## Networks left out (an attack missing)", ""]
        lines += [f"- {line}" for line in collected.excluded]
    if study.skipped:
        lines += ["", "## Tests not made", ""] + [f"- {line}" for line in study.skipped]
    return "\n".join(lines) + "\n"


def _tests_md(study: Study, setting: str) -> list[str]:
    mine = [t for t in study.tests if t["setting"] == setting]
    vs_dense = [t for t in mine if t["comparison"] == "vs-dense"]
    out = []
    if vs_dense:
        reference = "level 0 of each trial" if study.dense == LEVEL0 else study.dense
        out += [
            "",
            f"Against the dense network ({reference}), "
            "paired on the same images: difference in points (ticket − dense); McNemar p per "
            "seed and the paired t-test across seeds, Holm-adjusted within their family "
            "(tests.csv has the raw p and the sign-flip p).",
            "",
            "| method | % left | difference | paired t p (Holm) | McNemar p per seed (Holm) |",
            "|---|---|---|---|---|",
        ]  # fmt: skip
        seeds = [t for t in vs_dense if t["test"] == "paired-t"]
        for t in seeds:
            per_seed = [
                f"{m['seed']}: {m['p_holm']:.2g}"
                for m in vs_dense
                if m["test"] == "mcnemar-exact"
                and (m["a"], m["remaining"]) == (t["a"], t["remaining"])
            ]
            p = "—" if math.isnan(t["p_holm"]) else f"{t['p_holm']:.2g}"
            out.append(
                f"| {t['a']} | {t['remaining']:g} | {_pct(t['diff'], '+')} | {p} | "
                f"{', '.join(per_seed)} |"
            )
    between = [t for t in mine if t["comparison"] == "methods"]
    if between:
        for unit, test in (("images", "mcnemar-exact"), ("seeds", "paired-t")):
            found = [t for t in between if t["test"] == test]
            hits = sum(t["p_holm"] < ALPHA for t in found if not math.isnan(t["p_holm"]))
            out.append(
                f"\nBetween methods at the same sparsity ({unit}, {test}): {hits} of {len(found)} "
                f"tests below {ALPHA} after Holm (tests.csv)."
            )
    return out


def figure(study: Study, setting: str) -> Figure | None:
    """Worst-case robust accuracy against % of weights left (log axis): a line per method with
    its 95% band, the dense network as a horizontal band. None for a setting with no pruned
    network (a dense-only pilot): an axis of sparsity with nothing on it says nothing."""
    places = []
    lines = []  # (color index, method, its cells with a pruned level)
    unpruned = []  # (color index, method, its cell): runs that never prune
    for index, method in enumerate(study.methods(setting)):
        cells = [c for c in study.cells if c.setting == setting and c.method == method]
        sparse = [c for c in cells if any(n.level > 0 for n in c.networks)]
        if sparse and method != study.dense:
            lines.append((index, method, sorted(sparse, key=lambda c: -c.remaining)))
        elif cells and not sparse:
            unpruned.append((index, method, cells[0]))
    if not lines:
        return None
    fig = Figure(figsize=(7.0, 4.6), layout="constrained")
    ax = fig.subplots()
    for slot, (index, method, cells) in enumerate(lines):
        xs = [c.remaining for c in cells]
        places += xs
        mean, low, high = (list(v) for v in zip(*(c.interval() for c in cells), strict=True))
        color = f"C{index % 10}"
        lows = [100 * (m if math.isnan(lo) else lo) for m, lo in zip(mean, low, strict=True)]
        highs = [100 * (m if math.isnan(hi) else hi) for m, hi in zip(mean, high, strict=True)]
        if len(xs) == 1:  # a band of one point is invisible: an error bar, methods side by side
            at = [xs[0] * 1.03 ** (slot - (len(lines) - 1) / 2)]
            ax.errorbar(at, [100 * mean[0]], yerr=[[100 * mean[0] - lows[0]],
                        [highs[0] - 100 * mean[0]]], color=color, capsize=3, marker="o",
                        ms=3, label=method)  # fmt: skip
            continue
        ax.plot(xs, [100 * m for m in mean], marker="o", ms=3, color=color, label=method)
        ax.fill_between(xs, lows, highs, color=color, alpha=0.18, lw=0)
    dense = study.dense_cell(setting)
    if dense is not None:
        what, cell = dense
        mean, low, high = cell.interval()
        if not math.isnan(low):
            ax.axhspan(100 * low, 100 * high, color="0.5", alpha=0.2, lw=0)
        ax.axhline(100 * mean, color="0.3", ls="--", lw=1, label=f"dense ({what})")
    # a run that never prunes beside the reference (the dense network trained for a ticket's
    # cumulative budget): dotted, so that an equal-budget comparison can be read off too
    for index, method, cell in unpruned:
        if dense is not None and dense[1] is cell:
            continue
        mean, low, high = cell.interval()
        color = f"C{index % 10}"
        if not math.isnan(low):
            ax.axhspan(100 * low, 100 * high, color=color, alpha=0.12, lw=0)
        ax.axhline(
            100 * mean, color=color, ls=":", lw=1.5, label=f"{method}: a run that never prunes"
        )
    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(sorted(set(places), reverse=True))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.3g}"))
    ax.set_xlim(max(places) * 1.15, min(places) / 1.15)
    n = study.networks[0].n
    eps = ", ".join(sorted({f"{net.eps:g}" for net in study.networks if net.setting == setting}))
    ax.set(xlabel="% of weights left (log scale)", ylabel="worst-case robust accuracy (%)")
    ax.set_ylim(0, None)
    ax.set_title(
        f"{setting}\nworst case over the attacks at eps {eps}, {n:,} test images, 95% intervals",
        fontsize=10,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return fig


def write(
    out: Path,
    study: Study,
    collected: Collected,
    attacks: tuple[str, ...],
    say: Callable[[str], None] | None = None,
) -> list[Path]:
    """Every file of the study under `out`; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    written = []

    def text(name: str, content: str) -> None:
        atomic_write_text(out / name, content)
        written.append(out / name)

    text("networks.csv", _csv(NETWORK_FIELDS, network_rows(study)))
    text("cells.csv", _csv(CELL_FIELDS, cell_rows(study)))
    text("tests.csv", _csv(TEST_FIELDS, study.tests))
    text("table.md", table_md(study, collected, attacks))
    for setting in study.settings():
        drawn = figure(study, setting)
        if drawn is None:
            if say is not None:
                say(f"{setting}: no pruned network, so no figure (its numbers are in table.md)")
            continue
        buffer = io.BytesIO()
        drawn.savefig(buffer, format="png", dpi=120)
        atomic_write_bytes(out / f"{setting}.png", buffer.getvalue())
        written.append(out / f"{setting}.png")
    per_image.save(out / "per_image.npz", collected, attacks)
    written.append(out / "per_image.npz")
    if say is not None:
        for line in masking_warnings(study):
            say(f"warning: {line}")
    return written
