"""The house's layers: imports go one way (tools -> run -> core -> envs -> config and shell), and no
two modules import each other, directly or round a longer circle, counting the imports made inside
functions (a circle there still ties two modules into one)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the floor a module stands on; the entry points (python -m lander_exp.X) stand on top
FLOORS = {"config": 0, "shell": 0, "envs": 1, "core": 2, "run": 3, "tools": 4}
ENTRY = 5


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def import_graph() -> dict[str, set[str]]:
    """Each lander_exp module -> the lander_exp modules it imports anywhere in its file."""
    files = {module_name(f): f for f in (ROOT / "lander_exp").rglob("*.py")}
    graph = {}
    for name, path in files.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from lander_exp.tools import analyze` imports the module lander_exp.tools.analyze
                targets |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def floor(module: str) -> int:
    parts = module.split(".")
    return FLOORS.get(parts[1], ENTRY) if len(parts) > 1 else 0


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for dep in graph[todo.pop()]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_the_graph_sees_the_imports_made_inside_functions():
    graph = import_graph()
    # analyze writes its slider page with explorer, imported inside main()
    assert "lander_exp.tools.explorer" in graph["lander_exp.tools.analyze"]
    assert "lander_exp.tools.evaluate" in graph["lander_exp.tools.explorer"]  # load_run, inside a function


def test_no_two_modules_import_each_other_round_a_circle():
    graph = import_graph()
    reach = {m: reachable(graph, m) for m in graph}
    circles = sorted({tuple(sorted(n for n in reach[m] if m in reach[n])) for m in graph if m in reach[m]})
    assert circles == [], f"import circles: {circles}; move what both need into a module of its own"


def test_imports_point_down_the_layers():
    graph = import_graph()
    upward = sorted(f"{m} -> {d}" for m, deps in graph.items() for d in deps if floor(d) > floor(m))
    assert upward == [], upward
