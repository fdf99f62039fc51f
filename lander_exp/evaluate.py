"""`python -m lander_exp.evaluate`: the command; its code is lander_exp.tools.evaluate."""

from lander_exp.shell import require_dependencies, run_command

require_dependencies(__spec__.name if __spec__ else "lander_exp.evaluate")

from lander_exp.tools.evaluate import main  # noqa: E402  (after the check: it imports the dependencies)

if __name__ == "__main__":
    raise SystemExit(run_command(main, "lander_exp.evaluate"))
