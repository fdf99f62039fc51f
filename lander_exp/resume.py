"""`python -m lander_exp.resume`: the command; its code is lander_exp.run.resume."""

if __name__ == "__main__":
    from lander_exp.shell import require_dependencies, run_command

    require_dependencies(__spec__.name if __spec__ else "lander_exp.resume")  # before anything imports them
    from lander_exp.run import startup

    startup.begin()
    from lander_exp.run.resume import main

    raise SystemExit(run_command(main, "lander_exp.resume"))
