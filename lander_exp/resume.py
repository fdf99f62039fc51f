"""`python -m lander_exp.resume`: the command; its code is lander_exp.run.resume."""

from lander_exp.run.resume import main
from lander_exp.shell import run_command

if __name__ == "__main__":
    raise SystemExit(run_command(main, "lander_exp.resume"))
