"""`python -m lander_exp.runs`: the command; its code is lander_exp.tools.runs."""

from lander_exp.shell import run_command
from lander_exp.tools.runs import main

if __name__ == "__main__":
    raise SystemExit(run_command(main, "lander_exp.runs"))
