"""The report, built from a small synthetic results store with known values.

The store is written with the store module's own functions (config.yaml, level.json,
metrics.csv, masks, init, done.json), so the report reads exactly what `robust-tickets run`
writes; every expected number below is computed from the values the test put there.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.conftest import small_config

from robust_tickets.cli.main import main
from robust_tickets.experiment import RunOptions, run_experiment
from robust_tickets.report.aggregate import (
    early_stop,
    mean_std,
    select_levels,
    surviving_initial_weights,
    table_iteration,
)
from robust_tickets.report.load import load_series
from robust_tickets.report.paper import PAPER, paper_rows
from robust_tickets.report.sections.setting import accuracy_table
from robust_tickets.report.sections.summary import paper_layout_table, summary_table
from robust_tickets.resolve import from_flat
from robust_tickets.results import iter_rows
from robust_tickets.store import (
    experiment_dir,
    load_tensors,
    save_tensors,
    write_config,
    write_json,
    write_metrics,
)

ITERS, EVERY = 40, 20  # evaluations at 0, 20, 40
REMAINING = {0: 100.0, 1: 80.0, 2: 64.0}
# Validation loss per trial at iterations 0, 20, 40: the minimum is at 20, at 20 (a tie with
# 40: the earliest wins) and at 40. Test loss falls monotonically, so using it would give 40.
VALID_LOSS = {0: [1.0, 0.5, 0.7], 1: [1.0, 0.6, 0.6], 2: [1.0, 0.9, 0.4]}


def acc(trial: int, level: int, it: int, split: str) -> float:
    return 0.5 + 0.1 * level + 0.013 * trial**2 + it / 1000 + (0.002 if split == "valid" else 0)


def adv_acc(trial: int, level: int, it: int, split: str) -> float:
    return acc(trial, level, it, split) - 0.3 + 0.021 * trial


def _rows(trial: int, level: int, upto: int = ITERS) -> list[dict]:
    rows = []
    for k, it in enumerate(range(0, upto + 1, EVERY)):
        for split in ("valid", "test"):
            loss = VALID_LOSS[trial % 3][k] if split == "valid" else 1.0 - it / 100
            rows.append(
                {
                    "iteration": it,
                    "split": split,
                    "loss": loss,
                    "acc": acc(trial, level, it, split),
                    "adv_loss": loss + 1,
                    "adv_acc": adv_acc(trial, level, it, split),
                }
            )
    return rows


def _write_level(
    exp, trial: int, level: int, done: bool = True, upto: int = ITERS, remaining=None, **info
) -> None:
    remaining = REMAINING[level] if remaining is None else remaining
    directory = exp.trial(trial).level(level)
    gen = torch.Generator().manual_seed(100 * trial + level)
    shapes = {"layers.0.weight": (6, 8), "layers.1.weight": (3, 6)}
    masks = {n: (torch.rand(s, generator=gen) < remaining / 100).float() for n, s in shapes.items()}
    init = {n: (torch.rand(s, generator=gen) - 0.5) * masks[n] for n, s in shapes.items()}
    save_tensors(directory.masks, masks)
    save_tensors(directory.init, init)
    write_json(directory.info, {"level": level, "remaining": remaining})
    write_metrics(directory.metrics, _rows(trial, level, upto))
    if done:
        write_json(directory.done, {"level": level, "remaining": remaining, **info})


def _experiment(root: Path, strategy: str, **extra):
    config = from_flat(
        {
            "dataset": "fashion_mnist",
            "attack": "fgsm",
            "adv_train": True,
            "strategy": strategy,
            "train_iters": ITERS,
            "eval_every": EVERY,
            "prune_iters": 2,
            **extra,
        }
    )
    exp = experiment_dir(root, config)
    write_config(exp, config)
    return exp


def make_store(root: Path) -> Path:
    """reset: 3 complete trials; dense: 2 trials; random: trial 0 complete, trial 1 missing,
    trial 2 with level 1 still running (evaluated up to iteration 20) and level 2 not started."""
    reset = _experiment(root, "reset")
    for trial in range(3):
        for level in range(3):
            _write_level(reset, trial, level)
    dense = _experiment(root, "dense")
    for trial in range(2):
        _write_level(dense, trial, 0)
    random = _experiment(root, "random")
    for level in range(3):
        _write_level(random, 0, level)
    _write_level(random, 2, 0)
    _write_level(random, 2, 1, done=False, upto=20)
    return root


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return make_store(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="module")
def report(store, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reports") / "r"
    assert main(["report", str(store), "--out", str(out)]) == 0
    return out


def _csv(path: Path) -> list[dict]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def _table(report: Path, strategy: str) -> list[dict]:
    (path,) = [p for p in (report / "tables").glob(f"table_*_{strategy}.csv")]
    return _csv(path)


# ---- numbers -------------------------------------------------------------------------------
def test_table_cells_are_mean_and_sample_std_at_the_last_evaluated_iteration(report):
    rows = {int(r["level"]): r for r in _table(report, "reset")}
    assert set(rows) == {0, 1, 2}
    for level, row in rows.items():
        # 30,000 was asked for; the runs are 40 iterations long, so the table uses 40.
        assert int(row["iteration"]) == ITERS and int(row["n"]) == 3
        nat = [100 * acc(t, level, ITERS, "test") for t in range(3)]
        adv = [100 * adv_acc(t, level, ITERS, "test") for t in range(3)]
        assert float(row["natural_pct_mean"]) == pytest.approx(np.mean(nat), abs=1e-3)
        assert float(row["natural_pct_std"]) == pytest.approx(np.std(nat, ddof=1), abs=1e-3)
        assert float(row["adversarial_pct_mean"]) == pytest.approx(np.mean(adv), abs=1e-3)
        assert float(row["adversarial_pct_std"]) == pytest.approx(np.std(adv, ddof=1), abs=1e-3)
    markdown = next((report / "tables").glob("table_*_reset.md")).read_text()
    assert "the last evaluated one: these runs train 40 iterations per level (the paper" in markdown
    mean0 = np.mean([100 * acc(t, 0, ITERS, "test") for t in range(3)])
    std0 = np.std([100 * acc(t, 0, ITERS, "test") for t in range(3)], ddof=1)
    assert f"| 100 | 0 | 3 | {mean0:.2f} ± {std0:.2f} |" in markdown


def test_table_cells_agree_with_results_rows(store, report):
    """Recompute every cell independently from `results` rows (what `results --json` prints)."""
    for table in (report / "tables").glob("table_*.csv"):
        for row in _csv(table):
            values = [
                r["acc"]
                for r in iter_rows(store)
                if r["experiment"] == row["experiment"]
                and r["level"] == int(row["level"])
                and r["split"] == "test"
                and r["iteration"] == int(row["iteration"])
            ]
            assert int(row["n"]) == len(values)
            if values:
                assert float(row["natural_pct_mean"]) == pytest.approx(
                    100 * np.mean(values), abs=1e-3
                )


def test_at_iteration_picks_that_evaluation(store):
    (reset,) = [s for s in load_series([store]) if s.strategy == "reset"]
    table = accuracy_table(reset, 25, "t")
    level2 = dict(zip(table.raw_header, table.raw_rows[2], strict=True))
    assert level2["level"] == 2
    assert level2["iteration"] == 20  # 25 was not evaluated: the evaluation before it
    expected = np.mean([100 * acc(t, 2, 20, "test") for t in range(3)])
    assert level2["natural_pct_mean"] == pytest.approx(expected, abs=1e-3)
    assert any("iteration 25 was not evaluated" in note for note in table.notes)


def test_paper_values_and_differences_where_the_config_matches(report):
    row0 = {int(r["level"]): r for r in _table(report, "reset")}[0]
    paper = PAPER[("fashion_mnist", "fgsm", True)][100.0]
    assert float(row0["paper_natural_pct_mean"]) == paper["natural"].mean == 89.00
    assert float(row0["paper_adversarial_pct_mean"]) == paper["attack"].mean == 86.96
    # Δ from the values as shown (2 decimals), with the standard error of the difference
    nat = [100 * acc(t, 0, ITERS, "test") for t in range(3)]
    shown_mean, shown_std = round(np.mean(nat), 2), round(np.std(nat, ddof=1), 2)
    assert float(row0["natural_diff_pct"]) == pytest.approx(shown_mean - 89.00, abs=1e-9)
    assert float(row0["natural_diff_uncertainty_pct"]) == pytest.approx(
        math.sqrt(shown_std**2 / 3 + 0.28**2 / 5), abs=0.006
    )
    # No paper row at 80% remaining; no paper column for a strategy the paper did not tabulate.
    assert {int(r["level"]): r for r in _table(report, "reset")}[1]["paper_natural_pct_mean"] == ""
    assert "paper natural" not in next((report / "tables").glob("table_*_random.md")).read_text()


def test_paper_data_spot_checks():
    assert PAPER[("mnist", "pgd", True)][1.8]["attack"].mean == 38.23
    assert PAPER[("mnist", "pgd", True)][1.8]["attack"].std == 2.33
    assert PAPER[("fashion_mnist", "fgsm", False)][16.9]["attack"].mean == 8.79
    assert PAPER[("fashion_mnist", "pgd", True)][51.3]["natural"].mean == 89.10
    flat = from_flat({"dataset": "mnist", "attack": "pgd", "adv_train": True}).flat()
    assert paper_rows(flat) is PAPER[("mnist", "pgd", True)]
    assert paper_rows({**flat, "eps": 0.1}) is None  # another eps is not the paper's setup
    assert paper_rows({**flat, "strategy": "random"}) is None


def test_early_stop_is_the_first_minimum_of_validation_loss(store):
    (reset,) = [s for s in load_series([store]) if s.strategy == "reset"]
    picked = {t: early_stop(reset.runs[(t, 1)]) for t in range(3)}
    assert {t: s.iteration for t, s in picked.items()} == {0: 20, 1: 20, 2: 40}
    assert picked[0].valid_acc == pytest.approx(acc(0, 1, 20, "valid"))
    assert picked[2].valid_adv_acc == pytest.approx(adv_acc(2, 1, 40, "valid"))


def test_surviving_initial_weights_are_the_masked_init(store):
    (reset,) = [s for s in load_series([store]) if s.strategy == "reset"]
    survivors = surviving_initial_weights(reset, 2)
    assert sorted(survivors) == ["layers.0.weight", "layers.1.weight"]
    for trial in range(3):
        level = reset.runs[(trial, 2)].level_dir
        masks, init = load_tensors(level.masks), load_tensors(level.init)
        for name, per_trial in survivors.items():
            kept = per_trial[trial]
            assert kept.size == int(masks[name].sum()) < masks[name].numel()
            assert np.array_equal(np.sort(kept), np.sort(init[name][masks[name] > 0].numpy()))


def test_statistics_helpers():
    stat = mean_std([0.5, 0.7, 0.9])
    assert (stat.mean, stat.n) == (pytest.approx(0.7), 3)
    assert stat.std == pytest.approx(0.2)  # sample std (ddof=1)
    assert math.isnan(mean_std([0.4]).std) and mean_std([]).n == 0
    paper = from_flat({"train_iters": 50_000, "eval_every": 500})
    assert table_iteration(paper, 30_000) == 30_000
    assert table_iteration(paper, 30_250) == 30_000
    short = from_flat({"train_iters": 1000, "eval_every": 300})
    assert table_iteration(short, 30_000) == 1000
    assert table_iteration(short, 950) == 900
    schedule = {lv: 100 * 0.8**lv for lv in range(21)}
    assert [lv for _, lv in select_levels(schedule)] == [0, 3, 8, 11, 15, 18]
    assert select_levels({0: 100.0, 1: 80.0}) == [(0, 0), (1, 1)]


# ---- partial results -----------------------------------------------------------------------
def test_partial_results_are_drawn_and_what_is_missing_is_said(report):
    page = (report / "index.html").read_text()
    assert "Incomplete results" in page
    assert "trial(s) 1 missing (found 0, 2)" in page
    assert "trial 2: level 1 (80.0% left) still running or interrupted, at iteration 20" in page
    assert "trial 2: level(s) 2 of 0-2 missing" in page
    rows = {int(r["level"]): r for r in _table(report, "random")}
    # Level 1 counts only the trial that reached iteration 40; level 2 has only trial 0.
    assert (int(rows[0]["n"]), int(rows[1]["n"]), int(rows[2]["n"])) == (2, 1, 1)
    assert float(rows[1]["natural_pct_mean"]) == pytest.approx(100 * acc(0, 1, ITERS, "test"))
    assert any(p.name.startswith("fig1_curves") for p in (report / "figures").iterdir())


# ---- files and page ------------------------------------------------------------------------
class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.refs += [(tag, k, v or "") for k, v in attrs if k in ("src", "href")]


def test_page_is_self_contained_and_every_linked_file_exists(report):
    text = (report / "index.html").read_text()
    parser = _Refs()
    parser.feed(text)
    parser.close()
    assert "script" not in parser.tags and "link" not in parser.tags
    images = [v for tag, k, v in parser.refs if tag == "img"]
    assert len(images) >= 4 and all(v.startswith("data:image/svg+xml;base64,") for v in images)
    for image in images:  # the embedded figure is the SVG file beside the page
        svg = base64.b64decode(image.split(",", 1)[1])
        assert svg.lstrip().startswith(b"<?xml") and b"<svg" in svg
        assert svg in {p.read_bytes() for p in (report / "figures").glob("*.svg")}
    assert len(text.encode()) < 500_000
    for tag, _, value in parser.refs:
        assert not value.lower().startswith(("http:", "https:", "//", "file:")), value
        if tag == "a" and not value.startswith("#"):
            assert (report / value).is_file() and (report / value).stat().st_size > 0
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in text


def test_every_figure_as_png_and_svg_and_every_table_in_three_formats(report):
    figures = sorted((report / "figures").iterdir())
    stems = {p.stem for p in figures}
    for kind in ("fig1_curves", "fig2_early_stop", "fig3_accuracy", "fig4_weights"):
        assert any(s.startswith(kind) for s in stems), kind
    for stem in stems:
        png = (report / "figures" / f"{stem}.png").read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 10_000
        svg = ET.parse(report / "figures" / f"{stem}.svg").getroot()
        assert svg.tag.endswith("svg") and len(list(svg.iter())) > 50
        # Readable on the page: at most 12.5 in (900 pt) wide, so shown at 96 px/in within a
        # 1,400 px window; no text under 9 pt (12 px there).
        assert float(svg.get("width").removesuffix("pt")) <= 900
        text = (report / "figures" / f"{stem}.svg").read_text()
        sizes = [float(s) for s in re.findall(r"font-size: ?([\d.]+)px", text)]
        assert sizes and min(sizes) >= 9
        data = _csv(report / "figures" / f"{stem}.csv")  # the numbers behind every figure
        assert len(data) >= 3 and all(any(v != "" for v in row.values()) for row in data)
    tables = {p.stem for p in (report / "tables").iterdir()}
    assert any(t.startswith("summary_") for t in tables)
    for stem in tables:
        for ext in ("md", "tex", "csv"):
            assert (report / "tables" / f"{stem}.{ext}").stat().st_size > 0
    tex = next((report / "tables").glob("table_*_reset.tex")).read_text()
    assert "\\begin{tabular}" in tex and "\\pm" in tex and "±" not in tex


# ---- errors and replacing ------------------------------------------------------------------
def test_no_results_is_a_one_line_error_and_writes_nothing(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "out"
    assert main(["report", str(empty), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "no results under" in err and len(err.splitlines()) == 1
    assert not out.exists() and list(tmp_path.iterdir()) == [empty]
    assert main(["report", str(tmp_path / "nope"), "--out", str(out)]) == 2


def test_a_report_is_replaced_whole_and_other_directories_are_refused(tmp_path, capsys):
    store = tmp_path / "store"
    _write_level(_experiment(store, "dense"), 0, 0)  # the smallest store: quick to report
    out = tmp_path / "rep"
    assert main(["report", str(store), "--out", str(out)]) == 0
    stale = out / "figures" / "stale.png"
    stale.write_bytes(b"old")
    assert main(["report", str(store), "--out", str(out)]) == 0
    assert not stale.exists() and (out / "index.html").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep", "store"]  # no temp/old dirs
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    assert main(["report", str(store), "--out", str(other)]) == 2
    assert (other / "notes.txt").read_text() == "keep"
    assert "not a report" in capsys.readouterr().err


# ---- the page a researcher reads: header, the paper's six rows, dense line, strong attacks -----
# The paper's levels as the engine writes them (its "1.8" is 1.85% of the weights), stopping at
# 8.7%: the 3.6% and 1.8% rows are not reached.
PAPER_REMAINING = {0: 100.0, 1: 51.28, 2: 16.88, 3: 8.68}
RUN_INFO = {"robust_tickets": "9.9.9", "commit": "abc123def", "torch": "2.99.0",
            "device": "cpu", "threads": 1, "seconds_this_session": 12.5}  # fmt: skip


def _paper_store(root: Path, levels: dict[int, float] = PAPER_REMAINING, trials: int = 2) -> Path:
    """A reset run of the paper's setup (but 40 iterations) reaching `levels`, with what
    `run` records in done.json, and strong-attack results at levels 0 and the last."""
    exp = _experiment(root, "reset", prune_iters=max(levels))
    for trial in range(trials):
        for level, remaining in levels.items():
            _write_level(exp, trial, level, remaining=remaining, **RUN_INFO)
        for level, correct in ((0, (40, 3)), (max(levels), (30, 0))):
            table = exp.trial(trial).level(level).path / "robustness" / "robustness.csv"
            table.parent.mkdir()
            fgsm, worst = correct[0] + trial, correct[1]
            table.write_text(
                "attack,params,eps,n,correct,acc,role,seconds\n"
                f"fgsm,,0.3,50,{fgsm},{fgsm / 50},curve,0.1\n"
                f'pgd-restarts,"restarts=5,steps=40",0.3,50,{worst},{worst / 50},curve,1.0\n'
                f"worst-case,fgsm+pgd-restarts,0.3,50,{worst},{worst / 50},curve,1.1\n"
            )
    return exp.path


@pytest.fixture(scope="module")
def paper_report(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("paper")
    _paper_store(root / "results")
    out = root / "report"
    assert main(["report", str(root / "results"), "--out", str(out)]) == 0
    return root / "results", out


def _text(page: str) -> str:
    """The page's visible text, without embedded figures and tags."""
    page = re.sub(r'src="data:[^"]*"', "", page)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def test_header_says_what_was_run(paper_report):
    results, report = paper_report
    text = _text((report / "index.html").read_text())
    (exp,) = [p for p in results.iterdir() if p.is_dir() and not p.name.startswith(".")]
    # the exact command that reproduces the experiment: same config hash, same directory
    command = re.search(r"command (robust-tickets run [^<]*?--output \S+)", text).group(1)
    assert "--train-iters 40" in command and "--eval-every 20" in command
    assert "--prune-iters 3" in command and command.endswith(f"--output {results}")
    assert "robust_tickets 9.9.9, commit abc123def" in text
    assert "torch 2.99.0, device cpu, 1 torch thread(s) per worker process" in text
    assert "trials and seeds 2 (0, 1); base seed 0" in text
    assert "40 iterations per level, evaluated every 20" in text
    assert "of training summed over levels" in text and " wall from the first level" in text
    assert exp.name in text
    # Every iteration the page names for our numbers is one the data have: nothing claims
    # 30,000 except for the paper's values.
    assert "test accuracy at iteration 40 of each level" in text
    for match in re.finditer(r"iteration (\d{1,3}(?:,\d{3})*)", text):
        if match.group(1) not in ("40", "0"):  # the evaluations the data have
            context = text[max(0, match.start() - 120) : match.end() + 40]
            assert "paper" in context.lower(), context


def test_summary_has_the_papers_six_rows_with_paper_values_and_differences(paper_report):
    _, report = paper_report
    (path,) = (report / "tables").glob("summary_*.csv")
    rows = _csv(path)
    assert [float(r["remaining"]) for r in rows if r["metric"] == "acc"] == [
        100.0, 51.3, 16.9, 8.7, 3.6, 1.8
    ]  # fmt: skip
    paper = PAPER[("fashion_mnist", "fgsm", True)]
    for row in rows:
        target, kind = float(row["remaining"]), {"acc": "natural", "adv_acc": "attack"}
        cell = paper[target][kind[row["metric"]]]
        assert float(row["paper_pct_mean"]) == cell.mean  # the paper's value in every row
        if target in (3.6, 1.8):  # not reached by this run: said so, no number of ours
            assert row["reached"] == "False" and row["ours_pct_mean"] == ""
            continue
        level = {100.0: 0, 51.3: 1, 16.9: 2, 8.7: 3}[target]
        get = acc if row["metric"] == "acc" else adv_acc
        values = [100 * get(t, level, ITERS, "test") for t in range(2)]
        mean, std = round(np.mean(values), 2), round(np.std(values, ddof=1), 2)
        assert float(row["ours_pct_mean"]) == pytest.approx(np.mean(values), abs=1e-3)
        assert float(row["diff_pct"]) == pytest.approx(mean - cell.mean, abs=1e-9)
        assert float(row["diff_uncertainty_pct"]) == pytest.approx(
            math.sqrt(std**2 / 2 + cell.std**2 / 5), abs=0.006
        )
    page = (report / "index.html").read_text()
    assert page.count("not reached (run ends at 8.7%)") == 4  # 2 rows x natural, attack
    why = _text(page).split("Why these numbers differ from the paper's: ")[1]
    assert why.startswith(
        "reset: train_iters 40 (paper 50000); eval_every 20 (paper 500); strategy reset (the "
        "original code: rewind_trained); train_loop steps (the original code: keras)"
    )
    assert "; 2 trial" in why
    assert "Every level here trains 0.1% as long as the paper's" in why  # 40 of 50,000
    table = page[page.index("six sparsities, ours at iteration 40") :]
    table = table[: table.index("</table>")].replace("\u00a0", " ")  # ± kept with its numbers
    nat = [100 * acc(t, 1, ITERS, "test") for t in range(2)]
    diff = round(np.mean(nat), 2) - 88.64
    assert f"{diff:+.2f} ± ".replace("-", "−") in table and "88.64 ± 0.29" in table


def test_the_papers_truncated_levels_are_matched(tmp_path):
    """The engine's 1.85% is the paper's "1.8" row (it truncates); 3.58% is its 3.6."""
    exp = _experiment(tmp_path, "reset", prune_iters=18)
    for level, remaining in {0: 100.0, 15: 3.58, 18: 1.851}.items():
        _write_level(exp, 0, level, remaining=remaining)
    (series,) = load_series([tmp_path])
    table = summary_table(series, 30_000)
    assert [row[1] for row in table.rows] == ["0", "—", "—", "—", "15", "18"]
    assert [row[0] for row in table.rows] == ["100", "51.3", "16.9", "8.7", "3.6", "1.8"]
    assert table.rows[5][4].endswith("(n=1)")  # one trial: Δ without an uncertainty


def test_dense_line_is_drawn_from_level_0_and_its_data_written(paper_report):
    _, report = paper_report
    (csv_path,) = (report / "figures").glob("fig3_accuracy_*.csv")
    rows = _csv(csv_path)
    dense = [r for r in rows if r["line"].startswith("dense network")]
    assert {r["metric"] for r in dense} == {"acc", "adv_acc"}
    nat = next(r for r in dense if r["metric"] == "acc")
    assert float(nat["mean"]) == pytest.approx(
        np.mean([100 * acc(t, 0, ITERS, "test") for t in range(2)])
    )
    paper = [r for r in rows if r["line"].startswith("paper")]
    assert {float(r["remaining"]) for r in paper} >= {100.0, 51.3, 16.9, 8.7}
    page = (report / "index.html").read_text()
    assert "Dashed black: the dense network = level 0 of reset" in page
    # the SVG draws it: a dashed line (matplotlib writes the dash pattern into the style)
    svg = next((report / "figures").glob("fig3_accuracy_*.svg")).read_text()
    assert "stroke-dasharray" in svg
    # a setting with a `dense` experiment uses it instead (the store of the first fixture)


def test_dense_strategy_is_the_dense_line_when_present(report):
    (csv_path,) = (report / "figures").glob("fig3_accuracy_*.csv")
    dense = [r for r in _csv(csv_path) if r["line"] == "dense baseline"]
    expected = np.mean([100 * acc(t, 0, ITERS, "test") for t in range(2)])
    assert float(next(r for r in dense if r["metric"] == "acc")["mean"]) == pytest.approx(expected)


def test_strong_attack_section_shows_training_attack_beside_worst_case(paper_report):
    _, report = paper_report
    page = (report / "index.html").read_text()
    assert 'id="robustness"' in page
    text = _text(page)
    # training attack: fgsm on 50 images, trials 0/1 with 40/41 (level 0) and 30/31 (level 3)
    assert "100%: 81.0 → 6.0; 8.7%: 61.0 → 0.0" in text
    assert "robust-tickets evaluate " in text and "--n-examples 50" in text
    rows = _csv(next((report / "figures").glob("fig5_strong_attacks_*.csv")))
    worst = {(r["line"], r["level"]): float(r["mean"]) for r in rows}
    assert worst[("worst-case", "0")] == pytest.approx(6.0)
    assert worst[("fgsm", "3")] == pytest.approx(61.0)


def test_no_strong_attack_section_without_evaluation(report):
    page = (report / "index.html").read_text()
    assert 'id="robustness"' not in page and "No strong-attack evaluation found" in page


def test_iteration_0_note_where_tickets_start_above_chance(paper_report, report):
    text = _text((paper_report[1] / "index.html").read_text())
    # acc at iteration 0: 0.5 + 0.1 * level + 0.013 * trial**2 (levels 1-3 pruned)
    assert "Before training (iteration 0), the pruned tickets" in text
    low, high = (np.mean([100 * acc(t, lv, 0, "test") for t in range(2)]) for lv in (1, 3))
    found = re.search(r"already classify ([\d.]+)–([\d.]+)% of the test images", text)
    assert float(found.group(1)) == pytest.approx(low, abs=0.051)
    assert float(found.group(2)) == pytest.approx(high, abs=0.051)
    assert "(highest at 8.7% of the weights)" in text and "not a failed reset" in text


def test_published_replication_is_a_labelled_reference(tmp_path, paper_report):
    results, _ = paper_report
    # A replication store with other numbers, exported exactly as docs/replication gets it.
    other = tmp_path / "replication"
    exp = _experiment(other, "reset", prune_iters=3)
    for level, remaining in PAPER_REMAINING.items():
        _write_level(exp, 4, level, remaining=remaining)
    csv_file = tmp_path / "metrics.csv"
    assert main(["results", str(other), "--csv", str(csv_file)]) == 0
    # its strong-attack file beside it (here: the evaluation rows of the reported store)
    assert main(["results", str(results), "--csv", str(tmp_path / "robustness.csv"), "--eval"]) == 0
    out = tmp_path / "report"
    assert main(["report", str(results), "--out", str(out), "--replication", str(csv_file)]) == 0
    page = (out / "index.html").read_text()
    assert "published replication (docs/replication)" in page
    assert (
        "For reference, the published replication (docs/replication): fgsm → worst case on its "
        "first 50 test images at ε=0.3, mean over 2 trial(s): 100%: 81.0 → 6.0; 8.7%: 61.0 → 0.0."
    ) in html.unescape(page)
    rows = _csv(next((out / "figures").glob("fig3_accuracy_*.csv")))
    replication = {
        float(r["remaining"]): float(r["mean"])
        for r in rows
        if r["line"].startswith("published replication") and r["metric"] == "acc"
    }
    assert replication[16.9] == pytest.approx(100 * acc(4, 2, ITERS, "test"))
    summary = _csv(next((out / "tables").glob("summary_*.csv")))
    row = next(r for r in summary if r["remaining"] == "8.7" and r["metric"] == "adv_acc")
    assert float(row["replication_pct_mean"]) == pytest.approx(100 * adv_acc(4, 3, ITERS, "test"))
    # one replication trial: no spread, said once in the header, never "± 0.00"
    assert row["replication_pct_std"] == ""
    markdown = next((out / "tables").glob("summary_*.md")).read_text()
    assert "replication (n=1)" in markdown and "± 0.00" not in markdown
    bad = tmp_path / "bad.csv"
    bad.write_text("not,a,results,file\n1,2,3,4\n")
    assert main(["report", str(results), "--out", str(out), "--replication", str(bad)]) == 2


def test_run_records_what_ran_in_done_json(tmp_path, fashion):
    config = small_config(train_iters=2, eval_every=2, prune_iters=0)
    exp, _ = run_experiment(config, RunOptions(output=tmp_path, quiet=True), splits=fashion)
    done = json.loads(exp.trial(0).level(0).done.read_text())
    assert done["torch"] == torch.__version__ and done["device"] == "cpu"
    assert done["threads"] == torch.get_num_threads() and done["robust_tickets"]
    assert re.fullmatch(r"([0-9a-f]{40}(-dirty)?)?", done["commit"])


def test_a_replication_level_still_training_is_left_out(tmp_path):
    from robust_tickets.report.replication import NEEDED, load_rows

    columns = [*NEEDED, "complete"]
    base = {
        "dataset": "fashion_mnist", "model": "dense-300-100", "attack": "fgsm", "eps": "0.3",
        "adv_train": "True", "strategy": "reset", "experiment": "e", "trial": "0",
        "remaining": "100.0", "split": "test", "acc": "0.9", "adv_acc": "0.8",
    }  # fmt: skip
    lines = [",".join(columns)]
    for level, iteration, complete in ((0, 30000, "True"), (1, 12000, "False")):
        row = {**base, "level": str(level), "iteration": str(iteration), "complete": complete}
        lines.append(",".join(row[c] for c in columns))
    path = tmp_path / "metrics.csv"
    path.write_text("\n".join(lines) + "\n")
    assert [(r["level"], r["iteration"]) for r in load_rows(path)] == [(0, 30000)]


def test_report_of_a_conv_pgd_run_with_strong_attacks(tmp_path, fashion_small):
    # a convolutional ticket (4-D weights) trained with PGD, then evaluated: the weights figure
    # names conv layers by channels and kernel, and the strong-attack section names the PGD
    # setting from the experiment's config (a metrics row alone has no `steps`)
    config = small_config(
        model="lenet5", attack="pgd", adv_train=True, steps=2, prune_iters=1, train_iters=4
    )
    options = RunOptions(output=tmp_path / "r", quiet=True)
    exp, _ = run_experiment(config, options, splits=fashion_small)
    argv = ["evaluate", str(exp.path), "--attacks", "pgd", "--n-examples", "20", "--no-checks"]
    assert main([*argv, "--eps", "0.3", "-q"]) == 0
    out = tmp_path / "page"
    assert main(["report", str(tmp_path / "r"), "--out", str(out)]) == 0
    page = (out / "index.html").read_text()
    assert "PGD (2 steps of 0.05)" in page
    assert "(1→6, 5x5)" in "".join(p.read_text() for p in out.rglob("*.svg"))


def test_paper_layout_table_holds_every_compared_row_dense_only_runs_included(tmp_path):
    """The paper's Tables 1-2 in one table: the pruned FGSM run's reached rows and a PGD run of
    only its dense level (as configs/replicate.yaml has), each with the paper's cell and Δ."""
    _paper_store(tmp_path)
    pgd = _experiment(tmp_path, "reset", attack="pgd", dataset="mnist", adv_train=False,
                      prune_iters=0)  # fmt: skip
    _write_level(pgd, 0, 0, remaining=100.0)
    table = paper_layout_table(load_series([tmp_path]), 30_000)
    keys = [(r[0], r[1], r[2], r[3]) for r in table.rows]
    assert keys == [
        ("Fashion-MNIST", "FGSM", "adversarial", f"{p} ({lv})")
        for p, lv in (("100", 0), ("51.3", 1), ("16.9", 2), ("8.7", 3))
    ] + [("MNIST", "PGD", "natural", "100 (0)")]
    raw = dict(zip(table.raw_header, table.raw_rows[1], strict=True))
    ours = 100 * np.mean([acc(t, 1, ITERS, "test") for t in range(2)])
    assert raw["natural_ours"] == pytest.approx(ours, abs=1e-3)
    assert raw["natural_paper"] == 88.64 and raw["attack_paper"] == 86.79
    assert raw["natural_diff"] == pytest.approx(round(ours, 2) - 88.64, abs=1e-9)
    pgd_row = dict(zip(table.raw_header, table.raw_rows[-1], strict=True))
    assert (pgd_row["natural_paper"], pgd_row["attack_paper"]) == (98.37, 2.31)
    assert pgd_row["n"] == 1 and table.rows[-1][7] == f"{100 * adv_acc(0, 0, ITERS, 'test'):.2f}"
    # a run outside the paper's setup (another eps) has no row
    other = tmp_path / "other"
    exp = _experiment(other, "reset", eps=0.1)
    _write_level(exp, 0, 0, remaining=100.0)
    assert paper_layout_table(load_series([other]), 30_000) is None


def test_report_writes_the_paper_layout_table_when_it_gathers_several_experiments(
    paper_report, tmp_path
):
    _, report = paper_report  # one compared experiment: its summary table says it all
    assert not (report / "tables" / "paper_tables_1_2.csv").exists()
    _paper_store(tmp_path / "r")
    pgd = _experiment(tmp_path / "r", "reset", attack="pgd", dataset="mnist", adv_train=False,
                      prune_iters=0)  # fmt: skip
    _write_level(pgd, 0, 0, remaining=100.0)
    assert main(["report", str(tmp_path / "r"), "--out", str(tmp_path / "out")]) == 0
    rows = _csv(tmp_path / "out" / "tables" / "paper_tables_1_2.csv")
    assert [float(r["remaining"]) for r in rows] == [100.0, 51.3, 16.9, 8.7, 100.0]
    assert "Tables 1-2: ours beside the paper" in (tmp_path / "out" / "index.html").read_text()
