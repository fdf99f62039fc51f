"""What a new user reads first: `python -m lander_exp --help` and each other command's --help, run as
real processes. Every key is listed with its value and its meaning (one source: the schema's docs),
every config group with its options (Hydra's launcher group too), and the other commands."""

import re

import pytest
from omegaconf import OmegaConf

from lander_exp.config import ALGO_SCHEMAS, key_docs
from lander_exp.run.presets import options
from tests.conftest import make_cfg, run_cli


def wrapped(text: str) -> str:
    """The help with its wrapped lines and padded columns joined: a meaning split over lines reads as one."""
    return re.sub(r"\s+", " ", text)


def typed(value) -> str:
    """A value as it is typed on the command line: `null`, `true`, `.inf`, `[0,1]`, `offline`."""
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, float):
        return ".inf" if value == float("inf") else f"{value:g}"
    if OmegaConf.is_list(value):
        return "[" + ",".join(map(typed, value)) + "]"
    return str(getattr(value, "value", value))


@pytest.mark.parametrize("overrides,algo", [([], "ppo"), (["experiment=reinforce"], "reinforce")])
def test_help_lists_every_key_with_its_value_and_meaning(workdir, overrides, algo):
    proc = run_cli([*overrides, "--help"], cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = wrapped(proc.stdout)
    cfg = make_cfg(overrides)
    docs = {**key_docs(), **key_docs(ALGO_SCHEMAS[algo], "algo.")}
    assert "train.eval_screen" in docs and "algo.overlap_critic" in docs or algo == "reinforce"
    for key, meaning in docs.items():
        assert f" {key}={typed(OmegaConf.select(cfg, key))} {meaning}" in text, (key, meaning)
    assert "${" not in proc.stdout and "oc.env" not in proc.stdout
    assert "tracker.mode=offline offline (W&B runs on disk; the default unless the WANDB_MODE" in text


def test_help_lists_every_group_with_its_options_and_the_launchers(workdir):
    text = run_cli(["--help"], cwd=workdir).stdout
    groups = text.split("Config groups")[1].split("Keys (KEY=VALUE")[0]
    for group in ["algo", "env", "experiment", "lr", "network", "tracker", "hydra/launcher"]:
        assert re.search(rf"^  {re.escape(group)} ", groups, re.M), group
        for option in options(group, aliases=False):
            assert re.search(rf"[ *] {re.escape(option.name)} +{re.escape(option.about[:40])}", groups), option
            assert option.about, f"{group}/{option.name}.yaml has no first comment line to describe it"
    assert re.search(r"\* ppo +PPO of \"How to Land on the Moon\"", groups)
    assert re.search(r"\* basic +Hydra's own", groups)
    assert "old names, still accepted: seed (= deep)" in groups


def test_help_names_the_other_commands_and_opens_with_an_example_that_changes_something(workdir):
    text = run_cli(["--help"], cwd=workdir).stdout
    for module in ["resume", "evaluate", "report", "analyze", "sweep", "runs"]:
        assert re.search(rf"^  \S+ -m lander_exp\.{module} ", text, re.M), module
    first = re.search(r"Examples:\n\s+\S+ -m lander_exp ((?:\S+=\S+ ?)+)", text).group(1).split()
    default, changed = OmegaConf.to_container(make_cfg([])), OmegaConf.to_container(make_cfg(first))
    assert {k: v for k, v in changed.items() if v != default.get(k)}, first


@pytest.mark.parametrize("module", ["lander_exp.resume", "lander_exp.evaluate", "lander_exp.report",
                                    "lander_exp.analyze", "lander_exp.sweep", "lander_exp.runs"])
def test_every_other_command_has_a_help_for_a_new_user(workdir, module):
    proc = run_cli(["--help"], cwd=workdir, module=module)
    assert proc.returncode == 0 and proc.stdout.startswith("usage: "), proc.stderr[-2000:]
    for jargon in ("STARTING_S", "seed 00", "this machine"):
        assert jargon not in proc.stdout, (module, jargon)
    options_part = proc.stdout.split("options:")[1]
    flags = re.findall(r"^  (--[\w-]+)(?: [A-Z_{][^ ]*)?$\n(?!  {6,})", options_part, re.M)
    assert not flags, f"{module}: options without a description: {flags}"
