"""What the user's shell gets from us: commands spelled so that they work as printed, and a check
that a folder a command line names can be written before anything is made in it.

A printed `python -m lander_exp.resume RUN` fails when the shell's `python` is not the interpreter
that ran lander_exp (e.g. `make train` runs `.venv/bin/python`), so every printed command names the
interpreter actually running, as the shell can reach it from the current folder."""

from __future__ import annotations

import errno
import importlib.util
import os
import shlex
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

# What every command imports (pyproject.toml's dependencies), checked before any of it is imported.
DEPENDENCIES = ("hydra", "omegaconf", "numpy", "torch", "gymnasium", "wandb", "yaml", "tqdm")


def executable(name: str = "python") -> str:
    """How to call `name` from this folder: the bare name when the shell's PATH finds exactly the
    file next to this interpreter (an activated venv); else that file, relative to the current folder
    when it lies below it (`.venv/bin/python`), else absolute. `python` is this interpreter itself."""
    own = Path(sys.executable).absolute()
    path = own if name == "python" else own.parent / name
    if not path.exists():  # a tool not installed next to the interpreter: whatever the shell finds
        return name
    found = shutil.which(name)
    if found and Path(found).absolute() == path:
        return name
    try:
        rel = path.relative_to(Path.cwd())
    except ValueError:
        return shlex.quote(str(path))
    return shlex.quote(str(rel) if len(rel.parts) > 1 else f"./{rel}")


def shown(path: Path | str) -> str:
    """A path as the user would type it here: relative to the current folder when below it."""
    path = Path(path)
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def python_command(module: str, *args: object) -> str:
    """`python -m MODULE ARGS` with this interpreter, quoted for a POSIX shell."""
    return " ".join([executable("python"), "-m", module, *(shlex.quote(str(a)) for a in args)])


def command(name: str, *args: object) -> str:
    """A console script of this environment (e.g. `wandb sync FOLDER`), quoted for a POSIX shell."""
    return " ".join([executable(name), *(shlex.quote(str(a)) for a in args)])


def pip_install(extra: str) -> str:
    """The command that installs one of lander_exp's extras into this environment (from the repository root)."""
    return f"{python_command('pip', 'install', '-e')} '.[{extra}]'"


def size_text(size: float) -> str:
    """A byte count as a reader takes it in: 0 B, 1.5 KB, 21.0 GB (powers of 1000)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def duration(seconds: float) -> str:
    """`42 s`, `3 min 05 s`, `2 h 10 min`."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s" if s else f"{minutes} min"
    hours, m = divmod(minutes, 60)
    return f"{hours} h {m:02d} min"


def require_dependencies(module: str) -> None:
    """Exit with one line (code 2) when this interpreter lacks lander_exp's dependencies, e.g. a system
    `python` outside the project's .venv: the commands call this before importing any of them."""
    missing = next((name for name in DEPENDENCIES if importlib.util.find_spec(name) is None), None)
    if missing is None:
        return
    root = Path(__file__).resolve().parents[1]
    venv = root / ".venv"
    python = shown(venv / "bin" / "python")
    again = " ".join([python, "-m", module, *map(shlex.quote, sys.argv[1:])])
    if venv.is_dir():
        fix = f"activate the project's environment with `. {shown(venv / 'bin' / 'activate')}`, or run `{again}`"
    else:
        where = "" if root == Path.cwd().resolve() else f" in {root}"
        fix = f"`make install`{where} installs them into {shown(venv)}; then run `{again}`"
    print(f"{module}: error: this Python ({sys.executable}) lacks lander_exp's dependencies (no module named "
          f"{missing!r}): {fix}", file=sys.stderr)
    sys.exit(2)


def count(n: int, noun: str, plural: str | None = None) -> str:
    """`1 run`, `2 runs`: a number with its noun, in the plural unless it is one."""
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def unwritable(folder: Path) -> str | None:
    """Why files cannot be made in `folder` (made if missing), or None. Probes the nearest existing
    folder with a temporary file that it removes again: nothing stays behind."""
    path = Path(os.path.abspath(folder))
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".lander_exp_probe_")
    except OSError as ex:
        return f"cannot write in {existing} ({ex.strerror or type(ex).__name__})"
    os.close(fd)
    os.unlink(probe)
    return None


FULL = (errno.ENOSPC, errno.EDQUOT)  # no space left, or over the user's quota


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on the disk of `path` (or of its nearest existing parent)."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


def full_cause(ex: BaseException) -> OSError | None:
    """The ENOSPC (or EDQUOT) error behind `ex`, following its causes and context, or None."""
    seen = set()
    while ex is not None and id(ex) not in seen:
        seen.add(id(ex))
        if isinstance(ex, OSError) and ex.errno in FULL:
            return ex
        ex = ex.__cause__ or ex.__context__
    return None


@contextmanager
def replacing(path: Path, mode: str = "w", **open_args) -> Iterator[IO]:
    """A file written whole or not at all: into `PATH.tmp` (opened with `mode` and `open_args`), renamed
    over `path` once complete. On a failure the temporary file is removed, and a full disk's error
    names `path` (a failed write() names no file)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, mode, **open_args) as f:
            yield f
        os.replace(tmp, path)
    except BaseException as ex:
        tmp.unlink(missing_ok=True)
        full = full_cause(ex)
        if full is not None:
            raise OSError(full.errno, os.strerror(full.errno), str(path)) from ex
        raise


DISK_FULL_EXIT = 75  # sysexits' EX_TEMPFAIL: try again later (once space is freed)


def run_command(main: Callable[[], int | None], prog: str) -> int:
    """A command's exit code. When whoever reads its output stops reading (`... | head -1`), it ends
    quietly, as a command killed by SIGPIPE does (exit 141), instead of with a BrokenPipeError
    traceback (and another one when Python flushes its output at exit). A disk that fills up under a
    file it writes (a report, a CSV) ends it in one line naming the file, exit 75."""
    try:
        code = main()
        sys.stdout.flush()
        return code or 0
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left for the exit's flush
        return 128 + signal.SIGPIPE
    except Exception as ex:
        full = full_cause(ex)
        if full is None:
            raise
        what = shown(Path(full.filename)) if full.filename else "a file"
        where = Path(full.filename).parent if full.filename else Path.cwd()
        print(f"{prog}: error: disk full: {what} cannot be written ({size_text(free_bytes(where))} free on its disk): "
              f"free some space, then run this again", file=sys.stderr)
        return DISK_FULL_EXIT
