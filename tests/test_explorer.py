"""The policy explorer (`python -m lander_exp.analyze RUN --html`) in headless Chromium: sliders moved
with real mouse and key events must show exactly what the checkpoint's networks give in Python."""

import json
import math
import re

import numpy as np
import pytest
import torch

from lander_exp.tools.analyze import evaluate_states, scaler
from lander_exp.tools.evaluate import load_run
from lander_exp.tools.states import REFERENCE, action_kind
from tests.chromium import Browser
from tests.conftest import run_cli

VX, ANGLE, LEFT_LEG = 2, 4, 6


@pytest.fixture(scope="module")
def tiny_reinforce_run(tmp_path_factory):
    """A REINFORCE run (discrete actions) of 3 episodes whose network sees obs / OBS_SCALE."""
    workdir = tmp_path_factory.mktemp("explorer")
    proc = run_cli(["experiment=reinforce", "train.max_episodes=3", "train.eval_every=1", "train.eval_episodes=2",
                    "train.eval_envs=2", "train.progress=false", "train.video_every=0", "env.max_episode_steps=100",
                    "env.obs_scaling=divide"], cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = (workdir / "runs").glob("20*/*_reinforce_s0")
    return workdir, run_dir


@torch.no_grad()
def python_outputs(run_dir, state) -> dict:
    """What the checkpoint's torch networks give at `state` (env units, float32 like the env's)."""
    cfg, algo, _ = load_run(run_dir)
    model = algo.model.eval()
    scale = scaler(cfg.env.obs_scaling)
    prefs, _, _, value = evaluate_states(model, np.asarray([state], dtype=np.float32), scale)
    out = {"value": float(value[0]), "preferences": prefs[0].astype(float).tolist(), "kind": action_kind(model)}
    if out["kind"] == "continuous":
        obs = torch.as_tensor(scale(np.asarray([state], dtype=np.float32)))
        out["mean"] = model.actor(obs)[0].tolist()
        out["std"] = model.log_std.exp().tolist()
    return out


SHOWN = """(() => ({
  state: JSON.parse(document.body.dataset.state),
  probs: Array.from(document.querySelectorAll('.prob')).map(e => [Number(e.dataset.value), e.textContent]),
  throttles: Array.from(document.querySelectorAll('.throttle')).map(e =>
    [Number(e.dataset.value), e.textContent, Number(e.dataset.mean), Number(e.dataset.std)]),
  value: [Number(document.getElementById('value').dataset.value), document.getElementById('value').textContent],
  lander: Object.assign({}, document.getElementById('lander').dataset),
  sweep: document.getElementById('sweep-title').textContent,
}))()"""


def shown_number(text: str) -> float:
    return float(text.replace("\u2212", "-"))


def assert_shows(shown: dict, expected: dict) -> None:
    """The page's numbers are the network's: full precision within float32 rounding, and as printed."""
    assert shown["value"][0] == pytest.approx(expected["value"], abs=2e-5)
    assert abs(shown_number(shown["value"][1]) - expected["value"]) <= 5e-4 + 1e-6
    if expected["kind"] == "discrete":
        assert len(shown["probs"]) == 4
        for (full, text), p in zip(shown["probs"], expected["preferences"], strict=True):
            assert full == pytest.approx(p, abs=1e-6) and abs(float(text) - p) <= 5e-4 + 1e-6
    else:
        assert len(shown["throttles"]) == 2
        for (full, text, mean, std), t, m, s in zip(shown["throttles"], expected["preferences"], expected["mean"],
                                                     expected["std"], strict=True):
            assert full == pytest.approx(t, abs=1e-6) and abs(shown_number(text) - t) <= 5e-4 + 1e-6
            assert mean == pytest.approx(m, abs=1e-5) and std == pytest.approx(s, rel=1e-6)


def drag_slider(b: Browser, name: str, fraction: float) -> None:
    """Press on the slider's thumb (where its value is) and drag it to `fraction` of its track."""
    b.eval(f"document.getElementById('in-{name}').scrollIntoView({{block: 'center'}})")
    r = b.rect(f"#in-{name}")
    lo, hi, now = b.eval(f"(e => [Number(e.min), Number(e.max), Number(e.value)])(document.getElementById('in-{name}'))")
    y = r["y"] + r["height"] / 2
    thumb = 8  # px: half the thumb, where the track's ends sit
    at = lambda f: r["x"] + thumb + f * (r["width"] - 2 * thumb)  # noqa: E731
    b.drag(at((now - lo) / (hi - lo)), y, at(fraction))


def test_moving_the_vx_slider_shows_the_discrete_policys_probabilities_exactly_as_python(tiny_reinforce_run):
    workdir, run_dir = tiny_reinforce_run
    proc = run_cli([str(run_dir), "--html"], cwd=workdir, module="lander_exp.analyze")
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = run_dir / "analysis" / "policy_explorer.html"
    assert (workdir / proc.stdout.strip()).resolve() == page.resolve()  # as the user would type it there
    text = page.read_text()
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", text)  # everything inline

    with Browser() as b:
        b.send("Network.enable", session=True)
        b.open(page)
        assert b.eval("document.body.dataset.ready") == "1" and b.eval("document.body.dataset.errors || '0'") == "0"
        requests = [e["params"]["request"]["url"] for e in b.events if e.get("method") == "Network.requestWillBeSent"]
        assert requests == [page.resolve().as_uri()]  # nothing fetched but the page itself

        start = b.eval(SHOWN)
        assert start["state"] == pytest.approx(list(REFERENCE))
        assert_shows(start, python_outputs(run_dir, start["state"]))
        assert "vx sweeps" in start["sweep"]

        drag_slider(b, "vx", 0.85)  # a hand moves vx towards +1.4, everything else fixed
        moved = b.eval(SHOWN)
        assert moved["state"][VX] == pytest.approx(1.4, abs=0.1)
        others = [i for i in range(8) if i != VX]
        assert [moved["state"][i] for i in others] == pytest.approx([REFERENCE[i] for i in others])
        assert moved["probs"] != start["probs"]
        assert_shows(moved, python_outputs(run_dir, moved["state"]))

        b.click("#in-left_leg")  # the leg contact is a toggle: 0 -> 1
        legged = b.eval(SHOWN)
        assert legged["state"][LEFT_LEG] == 1 and legged["state"][VX] == moved["state"][VX]
        assert_shows(legged, python_outputs(run_dir, legged["state"]))


def test_the_continuous_policys_throttles_std_and_the_drawn_tilt_follow_the_sliders(tiny_video_run):
    workdir, run_dir = tiny_video_run
    out = run_cli([str(run_dir), "--html", "--reference", "0.1,0.8,0,-0.5,0,0,0,0"], cwd=workdir,
                  module="lander_exp.analyze")
    assert out.returncode == 0, out.stderr[-3000:]
    with Browser() as b:
        b.open(run_dir / "analysis" / "policy_explorer.html")
        start = b.eval(SHOWN)
        assert start["state"] == pytest.approx([0.1, 0.8, 0, -0.5, 0, 0, 0, 0])
        assert_shows(start, python_outputs(run_dir, start["state"]))
        # the drawing: x = 0.1 is 30 px right of the viewport's centre; level
        assert float(start["lander"]["x"]) == pytest.approx(330.0) and float(start["lander"]["deg"]) == 0

        drag_slider(b, "vx", 0.2)
        b.eval("document.getElementById('in-angle').focus()")
        for _ in range(10):  # ten steps of the angle slider with the keyboard: +0.1 rad
            b.key("ArrowRight", "ArrowRight", 39)
        moved = b.eval(SHOWN)
        assert moved["state"][VX] == pytest.approx(-1.2, abs=0.1) and moved["state"][ANGLE] == pytest.approx(0.1)
        assert_shows(moved, python_outputs(run_dir, moved["state"]))
        # + angle is anticlockwise: drawn as a negative (anticlockwise) SVG rotation
        assert float(moved["lander"]["deg"]) == pytest.approx(-math.degrees(0.1), abs=1e-3)
        assert "angle sweeps" in moved["sweep"]

        b.click("#reset")
        assert b.eval(SHOWN)["state"] == pytest.approx([0.1, 0.8, 0, -0.5, 0, 0, 0, 0])


def test_the_page_holds_the_checkpoints_weights(tiny_reinforce_run, tmp_path):
    from lander_exp.tools.explorer import network_json, write_explorer

    _, run_dir = tiny_reinforce_run
    cfg, algo, _ = load_run(run_dir)
    page = write_explorer(run_dir, out=tmp_path / "explorer.html")
    data = json.loads(re.search(r'<script id="explorer-data" type="application/json">(.*?)</script>', page.read_text(),
                                re.S).group(1).replace("<\\/", "</"))
    net = data["net"]
    assert net == network_json(algo.model, cfg.env.obs_scaling)
    first = algo.model.actor[0]
    assert np.array_equal(np.array(net["actor"][0]["w"], dtype=np.float32), first.weight.detach().numpy())
    assert net["scaling"] == "divide" and net["kind"] == "discrete" and len(net["critic"]) == cfg.network.critic_layers + 1
