"""`python -m lander_exp.analyze RUN_DIR --html`: the sliders of "The laws of the 'land'" as one self-contained page.

"Let's adjust the vx slider, fixing everything else": a slider for each of the 8 state variables
(the leg contacts as toggles), starting at the reference state, and, as a slider moves, the policy's
action probabilities (discrete) or main and lateral throttle with their std (continuous), the
critic's value, a drawing of the lander at that state, and the curves of both as the last moved
variable sweeps its range. The networks run in the page, in JavaScript, from the checkpoint's weights
written into it as JSON: no server, no network, nothing to install."""

from __future__ import annotations

import html
import json
from pathlib import Path

from torch import nn

from lander_exp.config import ObsScaling
from lander_exp.tools.states import CONTINUOUS_ACTIONS, DISCRETE_ACTIONS, LEGS, REFERENCE, STATE_VARS, action_kind

PAGE_NAME = "policy_explorer.html"
SCRIPT_FILE = Path(__file__).with_name("explorer.js")  # the page's script, inlined into every page
SLIDER_STEPS = 200  # positions of a slider across its range


def _layers(seq: nn.Sequential) -> list[dict]:
    """Linear layers as {"w": [out][in], "b": [out]} (ReLU between them, none after the last): the
    float32 weights, written as the doubles that hold them exactly."""
    kinds = {type(m) for m in seq}
    if not kinds <= {nn.Linear, nn.ReLU}:
        raise ValueError(f"the explorer runs Linear/ReLU stacks only, not {sorted(k.__name__ for k in kinds)}")
    return [{"w": m.weight.detach().cpu().double().tolist(), "b": m.bias.detach().cpu().double().tolist()}
            for m in seq if isinstance(m, nn.Linear)]


def network_json(model: nn.Module, obs_scaling: ObsScaling | str) -> dict:
    """What the page needs to run the policy: actor and critic layers, the run's observation scaling
    (the sliders are in env units, the network sees what it saw in training) and, for the Gaussian
    policy, its state-independent log std."""
    from lander_exp.envs.vec import OBS_SCALE

    kind = action_kind(model)
    out = {"kind": kind, "actions": list(DISCRETE_ACTIONS if kind == "discrete" else CONTINUOUS_ACTIONS),
           "scaling": ObsScaling(obs_scaling).value, "obs_scale": [float(v) for v in OBS_SCALE],
           "actor": _layers(model.actor), "critic": _layers(model.critic)}
    if kind == "continuous":
        out["log_std"] = model.log_std.detach().cpu().double().tolist()
    return out


def build_page(net: dict, reference, title: str, subtitle: str = "") -> str:
    """The page: inline CSS and JS, the weights as JSON; nothing fetched."""
    variables = [{"name": name, "what": what, "lo": lo, "hi": hi, "leg": name in LEGS,
                  "step": (hi - lo) / SLIDER_STEPS} for name, what, (lo, hi) in STATE_VARS]
    data = json.dumps({"net": net, "vars": variables, "reference": [float(v) for v in reference]}, separators=(",", ":"))
    data = data.replace("</", "<\\/")  # never closes the script element early
    return (PAGE.replace("__TITLE__", html.escape(title)).replace("__SUBTITLE__", html.escape(subtitle))
            .replace("__DATA__", data).replace("__SCRIPT__", SCRIPT_FILE.read_text(encoding="utf-8")))


def write_explorer(run_dir: Path, reference=REFERENCE, out: Path | None = None, ckpt: Path | None = None,
                   say=None) -> Path:
    """Load the run's newest good checkpoint (or `ckpt`; evaluate.load_run) and write its explorer page
    (default RUN_DIR/analysis/policy_explorer.html)."""
    from lander_exp.tools.evaluate import load_run

    cfg, algo, state = load_run(run_dir, ckpt, say)
    model = algo.model.cpu().eval()
    page = build_page(network_json(model, cfg.env.obs_scaling), reference, f"{run_dir.name}: policy explorer",
                      f"{cfg.env.id}, {cfg.algo.name}, checkpoint of epoch {state['epoch']} "
                      f"({state['global_step']:,} env steps, {state['episodes']:,} episodes); "
                      f"observation scaling: {ObsScaling(cfg.env.obs_scaling).value}")
    path = out or run_dir / "analysis" / PAGE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:18px;color:#222;max-width:1250px}
h1{font-size:20px;margin:0 0 2px} .sub{color:#666;font-size:13px;margin-bottom:12px}
.cols{display:grid;grid-template-columns:360px 1fr;gap:18px;align-items:start}
.panel{border:1px solid #ddd;border-radius:6px;padding:10px 12px;background:#fff}
.var{display:grid;grid-template-columns:64px 1fr 62px;align-items:center;gap:6px;margin:6px 0;font-size:13px}
.var label{font-weight:600} .var .what{grid-column:1/4;color:#777;font-size:11px;margin-top:-6px}
.var input[type=range]{width:100%} .var output{font-variant-numeric:tabular-nums;text-align:right}
.var.moved label{color:#c0392b}
button{font:inherit;font-size:12px;padding:3px 8px;border:1px solid #bbb;border-radius:4px;background:#f7f7f7;cursor:pointer}
.right{display:grid;grid-template-columns:1fr 1fr;gap:14px}
.bar{display:grid;grid-template-columns:120px 1fr 64px;align-items:center;gap:8px;margin:5px 0;font-size:13px}
.track{position:relative;height:16px;background:#f0f0f0;border-radius:3px;overflow:hidden}
.fill{position:absolute;top:0;bottom:0;background:#4c78a8}
.band{position:absolute;top:3px;bottom:3px;background:rgba(76,120,168,.25)}
.tick{position:absolute;top:0;bottom:0;width:1px;background:#999}
.mark{position:absolute;top:0;bottom:0;width:3px;margin-left:-1px;background:#c0392b}
.num{font-variant-numeric:tabular-nums;text-align:right}
.value{font-size:15px;margin-top:8px} h2{font-size:14px;margin:0 0 6px}
.note{color:#666;font-size:12px;margin-top:6px} svg text{font-family:inherit}
#script-errors{color:#b00;white-space:pre-wrap} #script-errors:empty{display:none}
</style></head>
<body>
<h1>__TITLE__</h1><div class="sub">__SUBTITLE__</div>
<pre id="script-errors"></pre>
<div class="cols">
  <div class="panel"><h2>State (the env's observation units)</h2><div id="sliders"></div>
    <button id="reset" type="button">back to the reference state</button>
    <div class="note">Move one variable, the others stay fixed. The network sees the observation after the
    run's scaling, as in training.</div></div>
  <div class="right">
    <div class="panel"><h2>The lander at this state</h2><svg id="scene" viewBox="0 0 600 400" width="100%"></svg>
      <div class="note">Velocity as an arrow; legs green when touching; flames show what the policy does.</div></div>
    <div class="panel"><h2 id="policy-title">Policy</h2><div id="policy"></div>
      <div class="value">critic value V(s) = <b id="value" class="num"></b></div></div>
    <div class="panel" style="grid-column:1/3"><h2 id="sweep-title"></h2>
      <svg id="sweep" viewBox="0 0 760 262" width="100%"></svg></div>
  </div>
</div>
<script>window.explorerErrors=[];window.addEventListener('error',function(e){window.explorerErrors.push(String(e.message));
document.getElementById('script-errors').textContent=window.explorerErrors.join('\\n');document.body.dataset.errors=window.explorerErrors.length;});</script>
<script id="explorer-data" type="application/json">__DATA__</script>
<script>__SCRIPT__</script>
</body></html>
"""
