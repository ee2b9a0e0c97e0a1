"""The package is layered: every import (module- or function-level) points to the same or a lower layer.

Layers of `genie_robotics`, lowest first; modules in one layer may use each other. `ros_nodes`
and `training` sit above the library: no module of `genie_robotics` imports them, except the
command line, which dispatches `demo` and `train` to them inside a function. There are no
import circles either (imports under `if TYPE_CHECKING:` are annotations only and not counted).
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("genie_robotics", "ros_nodes", "training")
LAYERS = (
    ("genie_robotics", "genie_robotics.core"),  # the package's own __init__ is the lazy public API
    ("genie_robotics.nn", "genie_robotics.data"),
    ("genie_robotics.models",),
    ("genie_robotics.commands",),
    ("genie_robotics.export",),
    ("genie_robotics.sim",),
    ("genie_robotics.analysis",),
    ("genie_robotics.policies",),
    ("genie_robotics.cli",),
    ("ros_nodes", "training"),
)
ABOVE_THE_LIBRARY = ("ros_nodes", "training")


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[tuple[str, bool]]:
    """(imported module, inside a function) for every runtime import in `tree`."""
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, in_function))
            found.extend((f"{node.module}.{a.name}", in_function) for a in node.names)
        elif isinstance(node, ast.Import):
            found.extend((a.name, in_function) for a in node.names)
        inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, False)
    return found


def _import_graph() -> dict[str, dict[str, bool]]:
    """module -> {imported project module: whether every such import is inside a function}."""
    modules = {_module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}
    graph: dict[str, dict[str, bool]] = {}
    for name, path in modules.items():
        targets: dict[str, bool] = {}
        for target, in_function in _imports(ast.parse(path.read_text())):
            if target in modules and target != name and not name.startswith(f"{target}."):
                targets[target] = targets.get(target, True) and in_function
        graph[name] = targets
    return graph


def layer_of(module: str) -> int:
    """Index of the most specific layer prefix that holds `module`."""
    best, best_len = None, -1
    for index, layer in enumerate(LAYERS):
        for prefix in layer:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = index, len(prefix)
    assert best is not None, f"{module} is in no layer: add it to LAYERS in tests/test_layers.py"
    return best


def layer_violations(graph: dict[str, dict[str, bool]]) -> list[str]:
    found = []
    for module, targets in sorted(graph.items()):
        for target, only_in_functions in sorted(targets.items()):
            if target.split(".")[0] in ABOVE_THE_LIBRARY and module.startswith("genie_robotics"):
                if not (module.startswith("genie_robotics.cli.") and only_in_functions):
                    found.append(f"{module} imports {target}: the library never imports ros_nodes or training "
                                 f"(only the command line may, inside a function)")
                continue
            if layer_of(target) > layer_of(module):
                found.append(f"{module} imports {target}, a higher layer")
    return found


def _cycle(graph: dict[str, dict[str, bool]]) -> list[str] | None:
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_every_import_points_to_the_same_or_a_lower_layer():
    graph = _import_graph()
    assert len(graph) > 40  # the scan found the modules
    violations = layer_violations(graph)
    assert not violations, "\n".join(violations)


def test_no_import_circles():
    cycle = _cycle(_import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_an_upward_import_is_reported_with_both_modules():
    graph = {"genie_robotics.models.genie": {"genie_robotics.sim.world_model": True},
             "genie_robotics.sim.prompts": {"ros_nodes.images": True},
             "genie_robotics.cli.demo": {"ros_nodes.demo": True},
             "genie_robotics.cli.main": {"training.train": False}}
    assert layer_violations(graph) == [
        "genie_robotics.cli.main imports training.train: the library never imports ros_nodes or training "
        "(only the command line may, inside a function)",
        "genie_robotics.models.genie imports genie_robotics.sim.world_model, a higher layer",
        "genie_robotics.sim.prompts imports ros_nodes.images: the library never imports ros_nodes or training "
        "(only the command line may, inside a function)",
    ]


def test_the_package_top_holds_only_layers():
    flat = sorted(p.name for p in (REPO / "genie_robotics").glob("*.py") if p.name != "__init__.py")
    assert not flat, f"modules outside a layer: {flat} (put each in the sub-package of its layer)"
