"""The README's commands, typed in order into a fresh folder, give what the README shows: the
Quickstart (twice, as a user does who comes back to it), then the "Comparing runs" example, whose
report holds its own 6 runs in 2 groups and nothing of the Quickstart's.

The commands are read from the README itself and run through bash (so its globs expand as in a
shell), each training shrunk to a test's size: a key the command sets to one value takes the tiny
value, a key it sweeps (a,b) keeps its values, since those make its runs and groups."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, TINY
from tests.processes import cli_env

TINY_REINFORCE = ["train.max_episodes=3", "train.eval_every=3", "train.eval_episodes=2", "train.eval_envs=2",
                  "env.max_episode_steps=100", "network.hidden_dim=16", "train.progress=false"]
TINY_PPO = [*TINY, "train.eval_screen=0"]  # experiment=fast screens evaluations after 10 episodes
TINY_EVALUATE = {"--episodes": "2"}


def readme_block(section: str) -> list[str]:
    """The commands of the first ```bash block under `## section`, without their comments."""
    text = (ROOT / "README.md").read_text()
    body = text.split(f"\n## {section}\n", 1)[1]
    block = body.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def shrunk(words: list[str], tiny: list[str]) -> list[str]:
    """`words` with each tiny key=value put in: replacing a single value, never a swept one."""
    words = list(words)
    for override in tiny:
        key = override.split("=", 1)[0]
        at = [i for i, w in enumerate(words) if w.split("=", 1)[0] == key]
        if not at:
            words.append(override)
        elif "," not in words[at[0]]:
            words[at[0]] = override
    return words


def as_tested(line: str) -> str | None:
    """The README's line as this test runs it, or None for the lines that install or browse."""
    words = line.split()
    if words[0] != "python":
        assert line.startswith(("make install", "wandb leet")), f"a README command this test does not know: {line}"
        return None
    words[0] = sys.executable
    if words[1:3] == ["-m", "lander_exp"]:
        words = shrunk(words, TINY_REINFORCE if "experiment=reinforce" in words else TINY_PPO)
    elif words[1:3] == ["-m", "lander_exp.evaluate"]:
        words = [TINY_EVALUATE.get(words[i - 1], w) if i else w for i, w in enumerate(words)]
    return " ".join(w if "*" in w else shlex.quote(w) for w in words)


def run_in_order(lines: list[str], cwd: Path) -> list[subprocess.CompletedProcess]:
    done = []
    for line in filter(None, map(as_tested, lines)):
        proc = subprocess.run(["bash", "-c", line], cwd=cwd, env=cli_env(), capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, f"{line}\n{proc.stderr[-3000:]}"
        done.append(proc)
    return done


def runs_and_groups(report: subprocess.CompletedProcess) -> tuple[int, int]:
    found = re.search(r"(\d+) runs in (\d+) groups", report.stdout)
    assert found, report.stdout
    return int(found[1]), int(found[2])


def test_the_readmes_commands_in_order_give_what_it_shows(workdir):
    quickstart, comparing = readme_block("Quickstart"), readme_block("Comparing runs")
    assert any("evaluate" in line for line in quickstart) and any("report" in line for line in comparing)

    first = run_in_order(quickstart, workdir)
    # 1 PPO run, and the multirun's 4 REINFORCE runs (lr=equal,fast × seed=1,2): 3 settings
    assert runs_and_groups(first[-1]) == (5, 3)
    assert len(list((workdir / "runs/quickstart/multirun").glob("*/*/*_reinforce_s*"))) == 4
    assert (workdir / "runs/quickstart/report.html").is_file()

    again = run_in_order(quickstart, workdir)  # the glob of evaluate now matches the two PPO runs
    ppo_runs = sorted(str(p.relative_to(workdir)) for p in (workdir / "runs/quickstart").glob("*/*_ppo_s1"))
    played = [line.split(" @ ")[0] for line in again[1].stdout.splitlines() if " @ epoch " in line]
    assert len(ppo_runs) == 2 and played == ppo_runs, again[1].stdout
    assert again[1].stdout.count("video: ") == 2
    # the same 5 commands again: 10 runs, each a copy of one before (same values, same seed), counted once
    assert "identical" not in first[-1].stdout
    said = re.search(r"the second time it prints `([^`]+)`", (ROOT / "README.md").read_text().replace("\n", " "))
    assert said and said[1] in again[-1].stdout, again[-1].stdout
    assert runs_and_groups(again[-1]) == (5, 3) and "5 identical runs counted once" in again[-1].stdout

    report = run_in_order(comparing, workdir)[-1]
    # the README's report: 4 against 8 update passes, three seeds each, nothing else
    assert runs_and_groups(report) == (6, 2)
    tracker_dir = next(w.split("=", 1)[1] for w in comparing[0].split() if w.startswith("tracker.dir="))
    assert sorted(p.name.split("_", 1)[1] for p in (workdir / tracker_dir / "multirun").glob("*/*/*") if p.is_dir()) == \
        ["ppo_s1", "ppo_s1", "ppo_s2", "ppo_s2", "ppo_s3", "ppo_s3"]
