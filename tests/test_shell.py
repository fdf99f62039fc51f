"""Printed commands name the interpreter that runs lander_exp as the shell reaches it, and folder
checks tell what cannot be written without leaving anything behind."""

import os
import subprocess
import sys
from pathlib import Path

from lander_exp import shell


def test_the_interpreter_is_named_as_the_shell_reaches_it(tmp_path, monkeypatch):
    own = Path(sys.executable).absolute()
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # a shell whose `python` is not this one
    monkeypatch.chdir(own.parent.parent)  # e.g. .venv/: the interpreter lies below the current folder
    assert shell.executable() == f"{own.parent.name}/{own.name}"
    printed = shell.python_command("lander_exp.resume", "runs/a b")
    assert printed == f"{own.parent.name}/{own.name} -m lander_exp.resume 'runs/a b'"
    monkeypatch.chdir(tmp_path)  # elsewhere: the absolute path
    assert shell.executable() == str(own)
    monkeypatch.setenv("PATH", f"{own.parent}{os.pathsep}/usr/bin:/bin")  # an activated venv: the bare name
    assert shell.executable() == "python" and shell.command("wandb", "sync", "x") == "wandb sync x"


def test_a_printed_command_runs_as_printed_in_a_shell_without_the_venv(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    printed = shell.python_command("lander_exp.resume", "--help")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # no venv on PATH, no PYTHONPATH
    proc = subprocess.run(printed, shell=True, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "continue a run" in proc.stdout, proc.stderr[-2000:]


def test_unwritable_names_a_file_or_a_read_only_folder_and_leaves_nothing(tmp_path):
    (tmp_path / "afile").write_text("x")
    assert shell.unwritable(tmp_path / "afile") == f"{tmp_path / 'afile'} is a file, not a folder"
    assert shell.unwritable(tmp_path / "afile" / "sub") == f"{tmp_path / 'afile'} is a file, not a folder"
    assert shell.unwritable(Path("/proc/lander_exp_test")).startswith("cannot write in /proc")
    assert shell.unwritable(tmp_path / "new" / "deeper") is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # the probe made and left nothing
