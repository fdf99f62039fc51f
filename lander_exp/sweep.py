"""`python -m lander_exp.sweep`: the command; its code is lander_exp.tools.sweep."""

from lander_exp.shell import run_command
from lander_exp.tools.sweep import main

if __name__ == "__main__":
    raise SystemExit(run_command(main, "lander_exp.sweep"))
