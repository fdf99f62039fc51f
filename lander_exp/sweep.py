"""`python -m lander_exp.sweep`: the command; its code is lander_exp.tools.sweep."""

from lander_exp.shell import require_dependencies, run_command

require_dependencies(__spec__.name if __spec__ else "lander_exp.sweep")

from lander_exp.tools.sweep import main  # noqa: E402  (after the check: it imports the dependencies)

if __name__ == "__main__":
    raise SystemExit(run_command(main, "lander_exp.sweep"))
