"""`python -m lander_exp.resume`: the command; its code is lander_exp.run.resume."""

from lander_exp.run.resume import main

if __name__ == "__main__":
    raise SystemExit(main())
