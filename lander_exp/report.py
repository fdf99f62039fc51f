"""`python -m lander_exp.report`: the command; its code is lander_exp.tools.report."""

from lander_exp.shell import run_command
from lander_exp.tools.report import main

if __name__ == "__main__":
    raise SystemExit(run_command(main, "lander_exp.report"))
