"""The README and docs/ point at things a fresh clone has: every relative link resolves, every
repository path named in backticks exists, every `python -m lander_exp.X` command is a module, and
nothing points outside the repository."""

import importlib.util
import re
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
