"""`python -m lander_exp.evaluate`: the command; its code is lander_exp.tools.evaluate."""

from lander_exp.shell import run_command
from lander_exp.tools.evaluate import main

if __name__ == "__main__":
    raise SystemExit(run_command(main, "lander_exp.evaluate"))
