"""`python -m lander_exp.analyze`: the command; its code is lander_exp.tools.analyze."""

from lander_exp.shell import run_command
from lander_exp.tools.analyze import main

if __name__ == "__main__":
    raise SystemExit(run_command(main, "lander_exp.analyze"))
