"""Checkpoints in a run folder: written atomically, the newest N kept by epoch, and never read
silently wrong. This module owns the format.

One checkpoint is one safetensors file, `checkpoints/epoch_000010.safetensors`. Every array (weights,
optimizer moments, random-generator states, the episode log, the logged metric rows as columns) is a
safetensors tensor, whose dtype and shape the file's header declares before any of its bytes is
read; everything else (counters, evaluation history, config, W&B run id, numpy random states) is
JSON in the header's metadata, with a SHA-256 of the whole content. Nothing in it is executable:
no pickle, so opening a checkpoint someone shared runs no code.

`load` checks, in this order, and refuses in one line (CheckpointError) at the first failure: the
header (its size against the file's, the format tag), that the JSON and the arrays name each other,
the layout the caller expects (`layout`: the config's network shapes, the episode log's length from
the counters, nothing unknown, nothing missing), and only then reads the arrays and compares the
checksum. A file whose header declares more bytes than it holds is refused before anything is read,
so no file makes a reader allocate more than its own size.

`save` writes a temporary file, fsyncs it and renames it over the checkpoint: a crash mid-write
leaves the previous one, and a failed write (a full disk) leaves no temporary file behind.

numpy and safetensors only at import: `runs list` reads run folders without torch. torch is
imported where a checkpoint holds torch tensors."""

from __future__ import annotations

import fcntl
import hashlib
import json
import operator
import os
import re
import sys
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lander_exp.config import ConfigError

FORMAT = "lander_exp.checkpoint/1"  # the header's format tag; a new layout gets a new number
SUFFIX = ".safetensors"
PATTERN = f"epoch_*{SUFFIX}"  # the resumable checkpoints
NAME = re.compile(rf"epoch_(\d+){re.escape(SUFFIX)}")
LEGACY_PATTERN = "epoch_*.pt"  # torch's pickle-based zip, written by lander_exp before this format
DEBUG_PREFIX = "debug_"  # written when a run fails; never picked by a resume (it must not start there)
DAMAGED_PREFIX = "damaged_"  # moved aside by a resume that could not use it
SUPERSEDED_PREFIX = "superseded_"  # moved aside by a resume from an older checkpoint (--checkpoint)
LOCK = ".lock"  # in the run folder, held by the process training there
# The JSON header holds no bulk data (arrays and metric rows are tensors); a default run's is a few KB.
HEADER_LIMIT = 16 << 20
DTYPES = {"F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16", "I64": "int64", "I32": "int32",
          "I16": "int16", "I8": "int8", "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool"}


class CheckpointError(ConfigError):
    """A checkpoint that cannot be used, in one line naming it: missing, damaged, written by an older
    version, not a lander_exp checkpoint, or not of this run's shape. `reason`: the Mismatch a layout
    raised, if that was why; `problems`: (path, error) of every checkpoint tried, when none could be used."""

    reason: Exception | None = None
    problems: list = []


class Mismatch(Exception):
    """Raised by a `layout` function given to `load`: the checkpoint is not one the caller can use
    (e.g. of another run). Its message follows "checkpoint PATH " in the one line `load` raises."""


# ---- the run folder ---------------------------------------------------------------------------------

def epoch_of(path: Path) -> int | None:
    """The epoch in a resumable checkpoint's name (`epoch_000010.safetensors` -> 10), else None."""
    m = NAME.fullmatch(Path(path).name)
    return int(m.group(1)) if m else None


def checkpoints(run_dir: Path) -> list[Path]:
    """The resumable checkpoints of a run folder, oldest first by the epoch in their names."""
    found = [p for p in (Path(run_dir) / "checkpoints").glob(PATTERN) if epoch_of(p) is not None]
    return sorted(found, key=epoch_of)


def legacy(run_dir: Path) -> list[Path]:
    """Checkpoints an older version of lander_exp wrote (torch's pickle format), which this one refuses."""
    return sorted((Path(run_dir) / "checkpoints").glob(LEGACY_PATTERN))


def _older_version(path: Path) -> CheckpointError:
    return CheckpointError(f"checkpoint {path} was written by an older version of lander_exp (torch's pickle format), "
                           "which this version does not open: use it with the version that wrote it, or start a new run")


def _no_checkpoint(run_dir: Path) -> CheckpointError:
    old = legacy(run_dir)
    if old:
        return _older_version(old[-1])
    return CheckpointError(f"{run_dir} holds no checkpoint (looked for checkpoints/{PATTERN}): pass a run folder "
                           "that has been evaluated at least once")


def latest(run_dir: Path) -> Path:
    """The newest resumable checkpoint by epoch, unread (`newest_good` reads and checks)."""
    found = checkpoints(run_dir)
    if not found:
        raise _no_checkpoint(run_dir)
    return found[-1]


def occupant(folder: Path, record: str | None = ".hydra", batch: bool = False) -> list[str]:
    """What in `folder` shows that a run lives there: its config.yaml, W&B record, checkpoints, and
    `record`, the folder where Hydra records a job's command (hydra.output_subdir). Empty when a run
    may start there. A batch's folder (`batch`) holds its seeds' runs in s<seed>/, checked apart."""
    from lander_exp.run.records import RUN_FILE

    folder = Path(folder)
    marks = [] if batch else [name for name in ("config.yaml", RUN_FILE) if (folder / name).is_file()]
    ckpts = folder / "checkpoints"
    if not batch and ckpts.is_dir() and any(ckpts.iterdir()):
        marks.append("checkpoints/")
    if record and (folder / record).is_dir():
        marks.append(f"{record}/")
    return marks


# ---- the format -----------------------------------------------------------------------------------

class Columns(list):
    """A list of flat dicts (the metric rows a run logged) that a checkpoint stores column by column:
    a float64 and an int64 matrix with a presence mask, other values as JSON. It reads back as a
    plain list of dicts, the same values and types."""


def _torch_tensor(value) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(value, torch.Tensor)


class _Encoder:
    """A state as JSON plus named arrays: an array becomes {"$array": name}, a tuple {"$tuple": [...]},
    a dict with a key that is not a string (or starts with `$`) {"$dict": [[key, value], ...]},
    Columns {"$columns": rows, ...}."""

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}

    def add(self, name: str, array: np.ndarray) -> None:
        if name in self.arrays:
            raise ValueError(f"two arrays of one checkpoint are named {name!r}")
        self.arrays[name] = array if array.flags.c_contiguous else array.copy(order="C")  # (ascontiguousarray makes 0-d 1-d)

    def value(self, v, path: str):
        if isinstance(v, Columns):
            return self.columns(v, path)
        if isinstance(v, dict):
            if all(isinstance(k, str) and not k.startswith("$") for k in v):
                return {k: self.value(x, f"{path}/{k}") for k, x in v.items()}
            return {"$dict": [[self.value(k, path), self.value(x, f"{path}/{k}")] for k, x in v.items()]}
        if isinstance(v, tuple):
            return {"$tuple": [self.value(x, f"{path}/{i}") for i, x in enumerate(v)]}
        if isinstance(v, list):
            return [self.value(x, f"{path}/{i}") for i, x in enumerate(v)]
        if isinstance(v, np.ndarray) or _torch_tensor(v):
            is_torch = not isinstance(v, np.ndarray)
            self.add(path.lstrip("/"), v.detach().cpu().numpy() if is_torch else v)
            return {"$array": path.lstrip("/"), "torch": is_torch}
        if isinstance(v, np.generic):
            return v.item()
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        raise TypeError(f"a checkpoint holds plain data and arrays, not {type(v).__name__} (at {path})")

    def columns(self, rows: Columns, path: str) -> dict:
        """Column by column, in C where numpy can: a run's 10,000 rows of 30 metrics take tens of ms."""
        order: dict = {}
        for row in rows:
            order.update(row)  # keys in the order they first appear, at C speed
        keys, n, name = list(order), len(rows), path.lstrip("/")
        columns: dict[str, list[np.ndarray]] = {"float": [], "int": []}
        groups: dict[str, list[str]] = {"float": [], "int": []}
        masks: dict[str, list[np.ndarray]] = {"float": [], "int": []}
        other = []
        for key in keys:
            column = np.array([row.get(key) for row in rows], dtype=object)
            here = column != None  # noqa: E711 (elementwise)
            kinds = set(map(type, column[here]))
            group = ("float" if kinds <= {float} or all(issubclass(t, (float, np.floating)) for t in kinds) else
                     "int" if all(issubclass(t, (int, np.integer)) and not issubclass(t, (bool, np.bool_)) for t in kinds)
                     else None)
            try:
                values = np.where(here, column, 0).astype(np.float64 if group == "float" else np.int64) if group else None
            except OverflowError:  # an int beyond int64
                group = None
            if group is None:
                other.append(key)
                continue
            groups[group].append(key)
            columns[group].append(values)
            masks[group].append(here.astype(bool))
        # column 0: the row itself (so that no row takes 0 bytes of the file); then the float and the int keys
        present = np.stack([np.ones(n, bool), *masks["float"], *masks["int"]], axis=1)
        self.add(f"{name}#present", present)
        for group, dtype in (("float", np.float64), ("int", np.int64)):
            self.add(f"{name}#{group}", np.stack(columns[group], axis=1) if columns[group] else np.zeros((n, 0), dtype))
        cells = [[i, k, self.value(r[k], f"{path}/{i}/{k}")] for i, r in enumerate(rows) for k in other if k in r]
        return {"$columns": n, "name": name, "keys": keys, "float": groups["float"], "int": groups["int"], "other": cells}


def _header_digest(state_json: str, infos: dict[str, tuple[str, tuple[int, ...]]]) -> str:
    """SHA-256 of what the header declares: the JSON, and every array's name, dtype and shape."""
    h = hashlib.sha256(state_json.encode())
    for name in sorted(infos):
        dtype, shape = infos[name]
        h.update(f"\0{name}\0{dtype}\0{list(shape)}".encode())
    return h.hexdigest()


def _digest(header_digest: str, arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 of the whole content: the header's digest and every array's bytes, in name order."""
    h = hashlib.sha256(header_digest.encode())
    for name in sorted(arrays):
        h.update(np.ascontiguousarray(arrays[name]).reshape(-1).view(np.uint8))
    return h.hexdigest()


def _infos(arrays: dict[str, np.ndarray]) -> dict[str, tuple[str, tuple[int, ...]]]:
    return {name: (a.dtype.name, tuple(a.shape)) for name, a in arrays.items()}


def encode(state: dict) -> bytes:
    """A state (dicts, lists, tuples, numbers, strings, None, numpy arrays, torch tensors, Columns)
    as the bytes of a checkpoint file."""
    from safetensors.numpy import save

    enc = _Encoder()
    state_json = json.dumps(enc.value(state, ""), separators=(",", ":"))
    if len(state_json) > HEADER_LIMIT // 2:
        raise ValueError(f"a checkpoint's plain data takes {len(state_json)} bytes of JSON: large data belongs in arrays")
    header = _header_digest(state_json, _infos(enc.arrays))
    return save(enc.arrays, metadata={"format": FORMAT, "state": state_json, "sha256_header": header,
                                      "sha256": _digest(header, enc.arrays)})


@dataclass
class _Ref:
    """An array of the file, not read yet: what the header declares."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    torch: bool


@dataclass
class _Rows:
    """Metric rows (Columns) of the file, not read yet."""

    count: int


def _getter(indices: list[int]):
    """A function of a list that returns its items at `indices`, as a tuple."""
    if not indices:
        return lambda _: ()
    if len(indices) == 1:
        return lambda row, i=indices[0]: (row[i],)
    return operator.itemgetter(*indices)


class _Decoder:
    """JSON plus arrays back to the state. Without `arrays` (the file's header only), arrays become
    _Ref and Columns _Rows: the skeleton that is checked before any array is read."""

    def __init__(self, path: Path, infos: dict[str, tuple[str, tuple[int, ...]]], arrays: dict | None = None):
        self.path, self.infos, self.arrays = path, infos, arrays
        self.used: set[str] = set()

    def bad(self, why: str) -> CheckpointError:
        return CheckpointError(f"checkpoint {self.path} is not a lander_exp checkpoint: {why}")

    def array(self, name) -> _Ref:
        if not isinstance(name, str) or name not in self.infos:
            raise self.bad(f"it names an array {name!r} that the file does not hold")
        self.used.add(name)
        return _Ref(name, *self.infos[name], False)

    def value(self, v):
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if not isinstance(v, dict):
            return v
        if "$array" in v:
            ref = self.array(v["$array"])
            ref.torch = v.get("torch") is True
            return ref if self.arrays is None else self.materialize(ref)
        if "$tuple" in v:
            return tuple(self.value(x) for x in self._list(v["$tuple"]))
        if "$dict" in v:
            pairs = self._list(v["$dict"])
            if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
                raise self.bad("a $dict is not a list of [key, value] pairs")
            try:
                return {self.value(k): self.value(x) for k, x in pairs}
            except TypeError:
                raise self.bad("a $dict has a key that is not a number or a string") from None
        if "$columns" in v:
            return self.columns(v)
        return {k: self.value(x) for k, x in v.items()}

    def _list(self, v) -> list:
        if not isinstance(v, list):
            raise self.bad("a tagged value is not a list")
        return v

    def materialize(self, ref: _Ref):
        array = self.arrays[ref.name]
        if not ref.torch:
            return array
        import torch

        return torch.from_numpy(array)

    def columns(self, node: dict):
        n, name, keys, floats, ints, cells = (node.get(k) for k in ("$columns", "name", "keys", "float", "int", "other"))
        if not (isinstance(n, int) and n >= 0 and isinstance(name, str)
                and all(isinstance(x, list) for x in (keys, floats, ints, cells))
                and all(isinstance(k, str) for k in keys) and set(floats) | set(ints) <= set(keys)):
            raise self.bad("its metric rows are malformed")
        refs = {}
        for part, dtype, width in (("present", "bool", 1 + len(floats) + len(ints)), ("float", "float64", len(floats)),
                                   ("int", "int64", len(ints))):
            ref = self.array(f"{name}#{part}")
            if ref.dtype != dtype or ref.shape != (n, width):
                raise self.bad(f"its array {ref.name} is {ref.dtype} {list(ref.shape)}, not {dtype} {[n, width]}")
            refs[part] = ref
        if self.arrays is None:
            return _Rows(n)
        present = self.arrays[refs["present"].name][:, 1:]
        values = [self.arrays[refs["float"].name].tolist(), self.arrays[refs["int"].name].tolist()]
        numeric = [(0, j, k) for j, k in enumerate(floats)] + [(1, j, k) for j, k in enumerate(ints)]
        other: dict[int, list] = {}
        for cell in cells:
            if not (isinstance(cell, list) and len(cell) == 3 and isinstance(cell[0], int) and 0 <= cell[0] < n
                    and isinstance(cell[1], str)):
                raise self.bad("a cell of its metric rows is malformed")
            other.setdefault(cell[0], []).append((cell[1], self.value(cell[2])))
        # rows that hold the same keys share a pattern: each row is then two C-level gathers
        gathers: dict[bytes, list] = {}
        rows = []
        for i, (mask, packed) in enumerate(zip(present, np.packbits(present, axis=1), strict=True)):
            pattern = packed.tobytes()
            if pattern not in gathers:
                picked = [numeric[j] for j in np.flatnonzero(mask)]
                gathers[pattern] = [(group, [k for g, _, k in picked if g == group],
                                     _getter([j for g, j, _ in picked if g == group])) for group in (0, 1)]
            row = {}
            for group, names, get in gathers[pattern]:
                row.update(zip(names, get(values[group][i]), strict=True))
            row.update(other.get(i, ()))
            rows.append(row)
        return Columns(rows)


# ---- what a reader expects -------------------------------------------------------------------------
# A layout mirrors a state: a dict lists exactly the keys it must have; a list, exactly its elements;
# (dtype, shape) stands for an array (None in a shape: any length); a type for a plain value of that
# type; `...` for plain data of any form (no array in it). Metric rows (Columns) are a list of `...`.

def _kind(found) -> str:
    if isinstance(found, _Ref):
        return f"a {found.dtype} array {list(found.shape)}"
    if isinstance(found, _Rows):
        return f"{found.count} metric rows"
    return {dict: "a dict", list: "a list", tuple: "a tuple", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number", type(None): "null"}.get(type(found), type(found).__name__)


def _has_array(found) -> bool:
    if isinstance(found, _Ref):
        return True
    if isinstance(found, dict):
        return any(_has_array(v) for v in found.values())
    if isinstance(found, (list, tuple)):
        return any(_has_array(v) for v in found)
    return False


def _shape_text(dtype: str, shape) -> str:
    return f"{dtype} [{', '.join('any' if s is None else str(s) for s in shape)}]"


def mismatch(layout, found, where: str = "") -> str | None:
    """How `found` (a state's skeleton: arrays as declared, not read) departs from `layout`, or None."""
    here = where or "the checkpoint"
    if layout is ...:
        return f"{here} holds an array where only plain data belongs" if _has_array(found) else None
    if isinstance(layout, tuple):
        dtype, shape = layout
        if not isinstance(found, _Ref):
            return f"{here} is {_kind(found)} where an array {_shape_text(dtype, shape)} belongs"
        if found.dtype != dtype or len(found.shape) != len(shape) or any(
                s is not None and s != f for s, f in zip(shape, found.shape, strict=True)):
            return f"{here} is {_shape_text(found.dtype, found.shape)} where {_shape_text(dtype, shape)} belongs"
        return None
    if isinstance(layout, type):
        ok = isinstance(found, layout) and not (layout in (int, float) and isinstance(found, bool))
        ok = ok or (layout is float and isinstance(found, int) and not isinstance(found, bool))
        return None if ok and not _has_array(found) else f"{here} is {_kind(found)} where {_kind(layout())} belongs"
    if isinstance(layout, dict):
        if not isinstance(found, dict):
            return f"{here} is {_kind(found)} where a dict belongs"
        for key in layout:
            if key not in found:
                return f"{here} lacks {key!r}"
        for key in found:
            if key not in layout:
                return f"{here} holds an unknown key {key!r}"
        for key, sub in layout.items():
            problem = mismatch(sub, found[key], f"{where}/{key}" if where else str(key))
            if problem:
                return problem
        return None
    if isinstance(layout, list):
        if isinstance(found, _Rows):
            if any(sub is not ... for sub in layout):
                return f"{here} is {_kind(found)} where a list of other values belongs"
            return None if found.count == len(layout) else f"{here} holds {found.count} rows where {len(layout)} belong"
        if not isinstance(found, list):
            return f"{here} is {_kind(found)} where a list belongs"
        if len(found) != len(layout):
            return f"{here} holds {len(found)} entries where {len(layout)} belong"
        for i, (sub, value) in enumerate(zip(layout, found, strict=True)):
            problem = mismatch(sub, value, f"{where}/{i}")
            if problem:
                return problem
        return None
    raise TypeError(f"not a layout: {layout!r}")


# ---- reading ------------------------------------------------------------------------------------------

def _header_length(path: Path) -> int:
    """The JSON header's length, once the file is known to hold it: refuses a missing file, an older
    version's, and one shorter than its header says, before safetensors reads anything."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except OSError as ex:
        raise CheckpointError(f"checkpoint {path} cannot be read ({ex.strerror or type(ex).__name__})") from None
    if head.startswith(b"PK\x03\x04") or path.suffix == ".pt":
        raise _older_version(path)
    length = int.from_bytes(head, "little") if len(head) == 8 else None
    if length is None or length + 8 > size:
        raise CheckpointError(f"checkpoint {path} is damaged or not a lander_exp checkpoint: it holds {size:,} bytes, "
                              f"fewer than its header declares (truncated?)")
    if length > HEADER_LIMIT:
        raise CheckpointError(f"checkpoint {path} is not a lander_exp checkpoint: its header declares {length:,} bytes, "
                              f"more than {HEADER_LIMIT:,}")
    return length


def _state_json(path: Path, meta: dict, infos: dict) -> object:
    fmt = meta.get("format")
    if fmt != FORMAT:
        if isinstance(fmt, str) and fmt.startswith("lander_exp.checkpoint/"):
            raise CheckpointError(f"checkpoint {path} has the format {fmt}, which this version of lander_exp does not "
                                  f"read ({FORMAT}): use it with the version that wrote it")
        raise CheckpointError(f"checkpoint {path} is not a lander_exp checkpoint: its header has no lander_exp format tag")
    text = meta.get("state", "")
    if _header_digest(text, infos) != meta.get("sha256_header"):
        raise CheckpointError(f"checkpoint {path} is damaged: its header does not match the checksum written with it")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as ex:
        raise CheckpointError(f"checkpoint {path} is not a lander_exp checkpoint: its state is not JSON "
                              f"({type(ex).__name__})") from None


def load(path: Path, layout: Callable[[dict], object] | None = None, against: str = "this run") -> dict:
    """The state a checkpoint holds, checked (module docstring); CheckpointError (one line) if it
    cannot be used. `layout(skeleton)`: what the caller expects, from the state's plain data (its
    config, its counters) with the arrays as their header declares them; it may raise CheckpointError
    itself (e.g. a checkpoint of another run). `against` names what the layout comes from, for the message."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    _header_length(path)
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            infos = {}
            for name in f.keys():
                info = f.get_slice(name)
                infos[name] = (DTYPES.get(info.get_dtype(), info.get_dtype().lower()), tuple(info.get_shape()))
            parsed = _state_json(path, meta, infos)
            skeleton_decoder = _Decoder(path, infos)
            skeleton = skeleton_decoder.value(parsed)
            if not isinstance(skeleton, dict):
                raise skeleton_decoder.bad("its state is not a dict")
            unnamed = sorted(set(infos) - skeleton_decoder.used)
            if unnamed:
                raise skeleton_decoder.bad(f"it holds an array {unnamed[0]!r} that its state does not name")
            if layout is not None:
                try:
                    problem = mismatch(layout(skeleton), skeleton)
                except Mismatch as ex:
                    error = CheckpointError(f"checkpoint {path} {ex}")
                    error.reason = ex
                    raise error from None
                if problem:
                    raise CheckpointError(f"checkpoint {path} does not fit {against}: {problem}")
            arrays = {name: f.get_tensor(name) for name in sorted(infos)}
    except SafetensorError as ex:
        why = str(ex).strip().splitlines()[0] if str(ex).strip() else type(ex).__name__
        raise CheckpointError(f"checkpoint {path} cannot be read ({why}): it is damaged or not a lander_exp checkpoint") from None
    if _digest(meta["sha256_header"], arrays) != meta.get("sha256"):
        raise CheckpointError(f"checkpoint {path} is damaged: its content does not match the checksum written with it")
    return _Decoder(path, infos, arrays).value(parsed)


def newest_good(run_dir: Path, layout: Callable[[dict], object] | None = None, against: str = "this run",
                say: Callable[[str], None] | None = None) -> tuple[Path, dict, list[Path]]:
    """(path, state, the newer checkpoints skipped) of the newest checkpoint of `run_dir` that `load`
    accepts. Each one skipped is named in one line through `say`, then the one used, and why; when none
    can be used, one CheckpointError naming the newest's problem (and nothing said before it)."""
    found = checkpoints(run_dir)
    if not found:
        raise _no_checkpoint(run_dir)
    problems: list[tuple[Path, CheckpointError]] = []
    for path in reversed(found):
        try:
            state = load(path, layout, against)
        except CheckpointError as ex:
            problems.append((path, ex))
            continue
        if problems and say is not None:
            for _, ex in problems:
                say(f"{ex}; skipped")
            say(f"using {path} (epoch {epoch_of(path)}), the newest checkpoint that can be used "
                f"({len(problems)} newer {'one was' if len(problems) == 1 else 'ones were'} skipped)")
        return path, state, [p for p, _ in problems]
    error = problems[0][1] if len(found) == 1 else CheckpointError(
        f"none of the {len(found)} checkpoints of {run_dir} can be used; the newest: {problems[0][1]}")
    error.problems = problems
    raise error


def set_aside(run_dir: Path, resumed: Path, damaged: list[Path]) -> list[Path]:
    """Before a resume from `resumed`: rename every resumable checkpoint of a later epoch out of the
    way (damaged_* for those in `damaged`, superseded_* for the others), so that no later resume or
    evaluation picks them; kept for inspection. Returns their new paths."""
    out = []
    for path in checkpoints(run_dir):
        if epoch_of(path) > epoch_of(resumed):
            prefix = DAMAGED_PREFIX if path in damaged else SUPERSEDED_PREFIX
            target = path.with_name(prefix + path.name)
            os.replace(path, target)
            out.append(target)
    return out


# ---- writing ------------------------------------------------------------------------------------------

def write(path: Path, state: dict) -> None:
    """Write to a temporary file, flush it to disk, then rename: readers see the old file or the new.
    Whatever fails, the temporary file is gone."""
    data = encode(state)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:  # a full disk, a kill signal's exception: no partial file left behind
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise
    try:  # the rename itself, on disk
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def save(run_dir: Path, epoch: int, state: dict, keep: int) -> Path:
    """Write the checkpoint of `epoch`, then delete all but the newest `keep` by epoch (never this one)."""
    path = Path(run_dir) / "checkpoints" / f"epoch_{epoch:06d}{SUFFIX}"
    write(path, state)
    for old in checkpoints(run_dir)[:-keep]:
        if old != path:
            old.unlink()
    return path


def save_debug(run_dir: Path, epoch: int, state: dict) -> Path:
    """The state of a failed run, for post-mortem: kept apart from the resumable checkpoints."""
    path = Path(run_dir) / "checkpoints" / f"{DEBUG_PREFIX}epoch_{epoch:06d}{SUFFIX}"
    write(path, state)
    return path


# ---- the lock -----------------------------------------------------------------------------------------

def busy(run_dir: Path) -> bool:
    """Whether a live process holds `run_dir`'s lock (see `owned`); creates nothing."""
    try:
        f = open(Path(run_dir) / LOCK)
    except OSError:  # no lock file (or no folder): nobody has trained there
        return False
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


@contextmanager
def owned(run_dir: Path):
    """Hold the run folder's lock while training in it: a second process (say, a resume started while
    the run is still alive) fails with one line instead of writing into the same folder. The OS drops
    the lock when its process dies, even by SIGKILL."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / LOCK, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"{run_dir} is in use by another lander_exp process: wait for it to end, or stop it "
                              "(Ctrl-C or kill) and resume") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
