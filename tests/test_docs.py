"""The README and docs/ point at things a fresh clone has: every relative link resolves, every
repository path named in backticks exists, every `python -m lander_exp.X` command is a module,
nothing points outside the repository, and the README's comparison example, followed after the
Quickstart, reports its own runs only."""

import importlib.util
import itertools
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")
# repository paths in backticks: a top-level folder of the repository, then a file or folder name
REPO_PATH = re.compile(r"`((?:benchmarks|conf|docs|lander_exp|scripts|sweeps|tests)/[\w./-]*\w)`")
MODULE = re.compile(r"python -m (lander_exp(?:\.\w+)*)")


def _ids(pages):
    return [str(p.relative_to(ROOT)) for p in pages]


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces as dashes."""
    heads = re.findall(r"^#+ (.+)$", page.read_text(), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_relative_links_resolve(page):
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists() or ROOT not in dest.parents:
            broken.append(target)
        elif anchor and anchor not in anchors(dest):
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)}: links that do not resolve in the repository: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_named_repository_paths_exist(page):
    text = page.read_text()
    missing = [p for p in REPO_PATH.findall(text) if "<" not in p and "*" not in p and not (ROOT / p).exists()]
    assert not missing, f"{page.relative_to(ROOT)} names paths a clone does not have: {missing}"
    assert "../shared" not in text


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_commands_are_modules(page):
    modules = set(MODULE.findall(page.read_text()))
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    assert not missing, f"{page.relative_to(ROOT)} names commands that do not exist: {missing}"


def test_readme_names_the_test_command_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "make test" in (ROOT / "README.md").read_text()


def test_claims_tables_are_generated_from_the_claim_results():
    """Every claim has its generated block in docs/findings.md, the README has the summary, and each
    block is exactly what scripts/claims_doc.py makes of docs/results/claims/ (no number typed by hand)."""
    findings, readme = (ROOT / "docs" / "findings.md").read_text(), (ROOT / "README.md").read_text()
    for claim in sorted((ROOT / "claims").glob("*.yaml")):
        assert f"<!-- claims:{claim.stem} -->" in findings, claim.stem
    assert "<!-- claims:tried -->" in findings and "<!-- claims:summary -->" in readme
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "claims_doc.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# A finding said of every run (or of "all five") hides how few seeds stood behind it: pages give k of n.
EVERY_RUN = re.compile(r"in every run|every run(?:'s)? (?:lands|jumps|hovers|earns|times out|goes through|sampled|greedy)|"
                       r"every greedy|all (?:three|five|ten) (?:runs|seeds)? ?(?:jump|land|earn|sit|time|keep)|"
                       r"five of five|seed 00[02]", re.I)


@pytest.mark.parametrize("page", PAGES, ids=_ids(PAGES))
def test_findings_are_rates_not_every_run(page):
    found = [f"{n}: {line.strip()}" for n, line in enumerate(page.read_text().splitlines(), 1) if EVERY_RUN.search(line)]
    assert found == [], "state a finding as k of n seeds: " + "; ".join(found)


def readme_training_commands() -> list[list[str]]:
    """The README's `python -m lander_exp ...` training commands, in the order a reader meets them,
    as the arguments after the module (comments dropped, quotes as the shell reads them)."""
    blocks = re.findall(r"^```bash\n(.*?)^```", (ROOT / "README.md").read_text(), flags=re.M | re.S)
    argvs = [shlex.split(line, comments=True) for block in blocks for line in block.splitlines()]
    return [argv[3:] for argv in argvs if argv[:3] == ["python", "-m", "lander_exp"]]


def sweep_points(overrides: list[str]) -> list[list[str]]:
    """Every combination a multirun of these overrides trains (`k=a,b` outside brackets is a sweep)."""
    def values(o: str) -> list[str]:
        key, _, value = o.partition("=")
        return [f"{key}={v}" for v in value.split(",")] if "," in value and "[" not in value else [o]
    return [list(p) for p in itertools.product(*(values(o) for o in overrides))]


def landing_folder(argv: list[str]) -> Path:
    """Where the runs of `python -m lander_exp ARGV` land: Hydra's run dir, or a multirun's sweep
    dir, resolved from the repository's config as the command would (its first point stands for all)."""
    from hydra import compose, initialize_config_dir

    from lander_exp.config import register
    from lander_exp.run.app import CONF_DIR

    register()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=sweep_points([a for a in argv if a != "-m"])[0], return_hydra_config=True)
    return Path(cfg.hydra.sweep.dir if "-m" in argv else cfg.hydra.run.dir)


def readme_comparison() -> tuple[list[str], list[str], str]:
    """The README's "Comparing runs" example: the training command's and the report command's
    arguments after the module, and the report line as written (with what it says it prints)."""
    section = (ROOT / "README.md").read_text().split("## Comparing runs", 1)[1].split("\n## ", 1)[0]
    train_line, report_line = re.search(r"```bash\n(python -m lander_exp .*)\n(python -m lander_exp\.report .*)\n",
                                        section).groups()
    return shlex.split(train_line, comments=True)[3:], shlex.split(report_line, comments=True)[3:], report_line


def test_the_readme_comparison_reports_its_own_runs_and_nothing_a_reader_trained_before():
    """Followed in order, the README trains its Quickstart runs (PPO and a REINFORCE multirun) before
    "Comparing runs": the comparison's report path must hold that example's runs and no other
    command's, and the count it promises must be the example's points and settings."""
    train, report_argv, report_line = readme_comparison()
    report_path = Path(report_argv[0])
    assert landing_folder(train).is_relative_to(report_path)
    mixed_in = [" ".join(argv) for argv in readme_training_commands()
                if argv != train and landing_folder(argv).is_relative_to(report_path)]
    assert not mixed_in, f"the README's report of {report_path} would also hold the runs of: {mixed_in}"
    points = sweep_points([a for a in train if a != "-m"])
    settings = {tuple(o for o in p if not o.startswith("seed=")) for p in points}
    promised = re.search(r"# report\.html: (\d+) runs in (\d+) groups", report_line)
    assert promised, "the README's report command says what it prints"
    assert (int(promised[1]), int(promised[2])) == (len(points), len(settings))


# What a user reads (pages, config comments, sweep files, the Makefile, the code's messages and
# docstrings): the write-ups by their titles, machines with a date and a figure, never the project's
# internal names for them.
USER_TEXT = [*PAGES, ROOT / "Makefile", *sorted((ROOT / "conf").rglob("*.yaml")), *sorted((ROOT / "sweeps").glob("*.yaml")),
             *sorted((ROOT / "lander_exp").rglob("*.py"))]
JARGON = re.compile(r"seed[ _]?00\d|seed (?:configuration|paper|post)|this machine|(?:the )?quiet machine|"
                    r"the correctness fixes|the shared machine", re.I)


@pytest.mark.parametrize("path", USER_TEXT, ids=_ids(USER_TEXT))
def test_user_facing_text_speaks_without_the_projects_history(path):
    found = [f"{n}: {line.strip()}" for n, line in enumerate(path.read_text().splitlines(), 1) if JARGON.search(line)]
    assert found == [], "name the write-ups by their titles and a machine by its date and figures: " + "; ".join(found)
