"""The lines every run ends with: where it went (run folder, W&B run) and how it ended (stop reason,
epochs, env steps, final evaluation, wall time). Evaluate, analyze and resume need the run folder,
and W&B's own footer (silenced in tracking.py) shows ten metrics and hides the rest."""

from __future__ import annotations

import json
from pathlib import Path

from lander_exp.run.records import RUN_FILE, rebuild_command
from lander_exp.shell import command, count, duration, shown


def wandb_line(run_dir: Path) -> str:
    """Where the run's W&B record is, and how to upload it when it is offline."""
    try:
        info = json.loads((run_dir / RUN_FILE).read_text())
    except (OSError, ValueError):
        return "W&B run: none (the run ended before its W&B run started)"
    if info.get("mode") == "disabled" or not info.get("dir"):
        return "W&B run: none (tracking off)"
    if info.get("mode") == "online":
        return f"W&B run: {info.get('url') or info['id']} (local copy: {info['dir']})"
    problem = info.get("record_problem")
    if problem is None and not Path(info["dir"]).is_dir():
        problem = f"its W&B record {info['dir']} is missing"
    if problem is not None:  # no `wandb sync` of a folder that is gone, or would upload a partial run
        return f"W&B run: {problem}; rebuild it from the checkpoint with: {rebuild_command(run_dir)}"
    return f"W&B run: {info['dir']} (offline; upload it with: {command('wandb', 'sync', info['dir'])})"


def format_summary(summary: dict, run_dir: Path) -> str:
    """One short block from the summary dict train.run returns (or a stop carries); keys it lacks
    are left out, so a run that failed early still says where it went."""
    reason = summary.get("stop_reason", "unknown")
    head = f"lander_exp: run ended ({reason})"
    if "epochs" in summary:
        epochs, episodes = count(summary["epochs"], "epoch"), count(summary["episodes"], "episode")
        steps = count(summary["global_step"], "env step")
        # REINFORCE with one env: an epoch is an episode, said once
        head += f" after {episodes}, {steps}" if summary["epochs"] == summary["episodes"] else \
            f" after {epochs}, {steps}, {episodes}"
    if "wall_s" in summary:
        head += f", {duration(summary['wall_s'])}"
    lines = [head, f"  run folder: {shown(run_dir)}"]
    if "final_eval_return" in summary:
        final, ma = summary["final_eval_return"], summary.get("eval_return_ma")
        lines.append("  final evaluation: none yet" if final is None else
                     f"  final evaluation: return {final:.1f}" + (f" (moving average {ma:.1f})" if ma is not None else ""))
    lines.append(f"  {wandb_line(run_dir)}")
    return "\n".join(lines)


def print_summary(summary: dict, run_dir: Path) -> None:
    print(format_summary(summary, run_dir), flush=True)
