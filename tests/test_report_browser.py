"""The report page as a browser shows it (issue 25, point 4): loaded in a real headless Chromium
at 1,024 and 1,400 px, nothing scrolls sideways (the page itself, a table's box, a figure's box)
and every image loads.

Skipped where Chromium is not installed (`apt-get install -y chromium` on Debian); CI installs
it so that the check runs there.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.test_report import PAPER_REMAINING, RUN_INFO, _experiment, _paper_store, _write_level

from robust_tickets.cli.main import main

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = next((found for name in BROWSERS if (found := shutil.which(name))), None)
pytestmark = [
    pytest.mark.slow,  # a report and two browser starts: about a minute on idle cores
    pytest.mark.skipif(
        BROWSER is None, reason="no headless Chromium (apt-get install -y chromium); CI has one"
    ),
]

# Run on load: what overflows sideways (any box that clips or scrolls and is narrower than its
# content; the document itself) and whether every image decoded, written into the DOM that
# --dump-dom prints. The report has no scripts; only this test's copy of the page does.
PROBE = """<script>
window.addEventListener('load', () => {
  const doc = document.documentElement, over = [];
  for (const el of document.querySelectorAll('body *')) {
    if (getComputedStyle(el).overflowX !== 'visible' && el.scrollWidth > el.clientWidth + 1)
      over.push(`${el.tagName}.${el.className} ${el.scrollWidth}>${el.clientWidth}: ` +
                (el.textContent || '').slice(0, 80));
  }
  const images = [...document.images].map(
    i => ({alt: i.alt, ok: i.complete && i.naturalWidth > 0}));
  const pre = document.createElement('pre');
  pre.id = 'probe'; pre.style.display = 'none';
  pre.textContent = JSON.stringify({width: innerWidth, page: doc.scrollWidth,
                                    client: doc.clientWidth, over, images});
  document.body.appendChild(pre);
});
</script>"""


def _measure(page: Path, width: int, profile: Path) -> dict:
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    argv = [
        BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        f"--user-data-dir={profile}", f"--window-size={width},900",
        "--virtual-time-budget=2000", "--dump-dom", probe.as_uri(),
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
    found = re.search(r'<pre id="probe"[^>]*>([^<]*)</pre>', done.stdout)
    assert found, f"no measurement from {BROWSER} (exit {done.returncode}): {done.stderr[-500:]}"
    return json.loads(html.unescape(found.group(1)))


def _store(root: Path) -> Path:
    """The paper's setup evaluated with strong attacks and masking checks (wide tables: the
    claim table, the masking checks with their long experiment names, the summary with the
    replication's column), and a random-criterion twin (its own section and criteria table)."""
    _paper_store(root)
    random = _experiment(root, "reset", prune_iters=max(PAPER_REMAINING), criterion="random")
    for trial in range(2):
        for level, remaining in PAPER_REMAINING.items():
            _write_level(random, trial, level, remaining=remaining, **RUN_INFO)
    for exp in root.iterdir():
        for robustness in exp.glob("trial_*/level_*/robustness"):
            checks = [
                {"check": name, "flag": "warn" if name == "transfer" else "pass", "detail": ""}
                for name in ("monotone", "unbounded", "more-steps", "black-box", "transfer")
            ]
            report = {"eps": 0.3, "n": 50, "checks": checks}
            (robustness / "checks.json").write_text(json.dumps(report))
    return root


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    _store(root / "results")
    assert main(["report", str(root / "results"), "--out", str(root / "report")]) == 0
    return root / "report" / "index.html"


@pytest.mark.parametrize("width", [1024, 1400])
def test_the_page_fits_the_window_and_every_image_loads(page, width, tmp_path):
    found = _measure(page, width, tmp_path / "profile")
    assert found["width"] == width
    assert found["page"] <= found["client"], f"the page scrolls sideways at {width} px"
    assert not found["over"], f"at {width} px these scroll sideways: {found['over']}"
    figures = len(re.findall(r"<figure>", page.read_text()))
    assert figures >= 8 and len(found["images"]) == figures
    assert all(image["ok"] for image in found["images"]), found["images"]
