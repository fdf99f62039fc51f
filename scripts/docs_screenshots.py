"""The screenshots in docs/img/, taken in headless Chromium (tests/chromium.py) from pages the current
code builds. From the repository root:

    python scripts/docs_screenshots.py readme docs/img/report.png   # the README's "Comparing runs", as tiny runs
    python scripts/docs_screenshots.py page RUN/analysis/policy_explorer.html docs/img/policy_explorer.png --drag vx=0.8
    python scripts/docs_screenshots.py mixed docs/img/report_mixed.png   # the ten hand-made runs of tests/test_report.py

`readme` trains the README's "Comparing runs" example (read from README.md: experiment=fast, 4 against
8 update passes, seeds 1-3) with each run cut to TINY_README (three epochs of 2,048 env steps: about a minute for all
six on two cores, where the full runs take several), reports it with the README's command and shoots
the top of the page: the page's layout is the example's, its numbers are those of the tiny runs.

Plotly's chart toolbars are hidden in the pictures: headless Chromium reports no hovering pointer, so
Plotly shows every toolbar at once, where a mouse user sees one only over its chart."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.chromium import Browser  # noqa: E402

TINY_README = ["env.num_envs=4", "algo.steps_per_epoch=2048", "algo.batch_size=512", "train.max_epochs=3",
               "train.eval_episodes=10", "train.eval_envs=10", "train.eval_screen=0"]
HIDE_TOOLBARS = "document.head.insertAdjacentHTML('beforeend', '<style>.modebar-container{display:none}</style>')"


def shoot(page: Path, out: Path, height: int | None, drags: list[str]) -> Path:
    with Browser(width=1300, height=900) as b:
        b.open(page)
        errors = b.eval("document.body.dataset.errors || '0'")
        if errors != "0":
            raise SystemExit(f"{page}: the page reports {errors} script errors")
        b.eval(HIDE_TOOLBARS)
        for drag in drags:  # name=fraction: move that slider with the mouse, as a reader would
            from tests.test_explorer import drag_slider

            name, fraction = drag.split("=")
            drag_slider(b, name, float(fraction))
        b.eval("window.scrollTo(0, 0)")
        return b.screenshot(out, height=height)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    one = sub.add_parser("page", help="a screenshot of an HTML page")
    one.add_argument("page", type=Path)
    one.add_argument("out", type=Path)
    one.add_argument("--height", type=int, help="only the top of the page, in px")
    one.add_argument("--drag", action="append", default=[], metavar="SLIDER=FRACTION")
    readme = sub.add_parser("readme", help="the report of the README's comparison example, trained as tiny runs")
    readme.add_argument("out", type=Path)
    readme.add_argument("--height", type=int, default=1900)
    mixed = sub.add_parser("mixed", help="the report of tests/test_report.py's ten mixed runs")
    mixed.add_argument("out", type=Path)
    mixed.add_argument("--height", type=int, default=2600)
    args = p.parse_args()
    if args.what == "page":
        print(shoot(args.page, args.out, args.height, args.drag))
        return
    if args.what == "readme":
        from tests.test_docs import readme_comparison

        train, report_argv, _ = readme_comparison()  # the commands as the README prints them
        env = {**os.environ, "PYTHONPATH": str(ROOT), "WANDB_SILENT": "true"}
        with tempfile.TemporaryDirectory() as tmp:
            for module, argv in (("lander_exp", [*train, *TINY_README]), ("lander_exp.report", report_argv)):
                done = subprocess.run([sys.executable, "-m", module, *argv], cwd=tmp, env=env, capture_output=True, text=True)
                if done.returncode != 0:
                    raise SystemExit(f"{module} failed: {done.stderr[-2000:]}")
            print(done.stdout.strip())
            print(shoot(Path(tmp) / "report.html", args.out.absolute(), args.height, []))
        return
    from lander_exp.tools import report
    from tests.test_report import mixed_runs

    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "mixed.html"
        page.write_text(report.build_html(mixed_runs(), "lander_exp: ten mixed runs (hand-made records)",
                                          ["tests/test_report.py: mixed_runs()"]))
        print(shoot(page, args.out, args.height, []))


if __name__ == "__main__":
    main()
