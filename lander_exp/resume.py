"""`python -m lander_exp.resume`: the command; its code is lander_exp.run.resume."""

if __name__ == "__main__":
    from lander_exp.run import startup

    startup.begin()
    from lander_exp.run.resume import main

    raise SystemExit(main())
