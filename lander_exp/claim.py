"""`python -m lander_exp.claim`: the command; its code is lander_exp.tools.claim."""

from lander_exp.shell import run_command
from lander_exp.tools.claim import main

if __name__ == "__main__":
    raise SystemExit(run_command(main, "lander_exp.claim"))
