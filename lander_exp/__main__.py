"""`python -m lander_exp [overrides]`: errors in the user's input end in one line and exit code 2,
before any run folder or W&B run exists; a run stopped by a signal exits 128+signum (130, 143), one
stopped by a non-finite number exits 1."""

from __future__ import annotations

import os
import sys


def cli() -> None:
    from lander_exp.shell import require_dependencies

    require_dependencies("lander_exp")  # before anything imports them
    from lander_exp.run import startup

    startup.begin()
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")  # let errors reach us instead of Hydra's printer
    from lander_exp.run import preflight
    from lander_exp.run.app import CONF_DIR, main
    from lander_exp.run.stopping import RunStopped

    try:
        preflight.check(sys.argv[1:], str(CONF_DIR))
        main()
    except RunStopped as ex:  # a stop on a signal or a non-finite number: the run is already closed
        print(f"lander_exp: {ex}", file=sys.stderr)
        sys.exit(ex.exit_code)
    except KeyboardInterrupt:  # Ctrl-C while starting up, before the loop handles signals itself
        from lander_exp.shell import python_command

        print(f"\nlander_exp: interrupted before training started, nothing to resume; "
              f"{python_command('lander_exp.runs', 'list')} shows such runs, clean deletes them", file=sys.stderr)
        sys.exit(130)
    except Exception as ex:
        message = preflight.one_line(ex)
        if message is None:
            raise
        print(f"lander_exp: error: {message}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    from lander_exp.shell import run_command

    raise SystemExit(run_command(cli, "lander_exp"))
