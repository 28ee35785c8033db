"""The package's layout stays easy to find one's way in: imports only run down the layers of docs/CONTRACTS.md,
the training stage's modules are private to it, and no file grows past one idea."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "jointdiff"

# Module (or package prefix) -> layer; a module may import its own layer and those below, never above.
LAYERS = {
    "jointdiff.errors": 1, "jointdiff.choices": 1, "jointdiff.keys": 1, "jointdiff.atomic": 1, "jointdiff.progress": 1,
    "jointdiff.settings": 1,
    "jointdiff.jobs": 1, "jointdiff.jobs.resume": 2,
    "jointdiff.config": 2, "jointdiff.data.specs": 2, "jointdiff.sample.settings": 2, "jointdiff.metrics.protocols": 2,
    "jointdiff.workflow": 2,
    "jointdiff.images": 3, "jointdiff.distributed": 3, "jointdiff.gpu": 3, "jointdiff.data": 3,
    "jointdiff.unet": 4, "jointdiff.classifier": 4, "jointdiff.diffusion": 4, "jointdiff.model": 4,
    "jointdiff.noised_classifier": 4, "jointdiff.noised_classifier.settings": 2,
    "jointdiff.metrics": 5,
    "jointdiff.train": 6, "jointdiff.sample": 6,
    "jointdiff.report": 7,
    "jointdiff.commands": 8, "jointdiff.cli": 8, "jointdiff.__main__": 8,
    "jointdiff": 1,  # the package's __init__: its version only
}


def layer_of(module: str) -> int:
    """The layer of the longest LAYERS entry that `module` is (or lies inside)."""
    best = max((name for name in LAYERS if module == name or module.startswith(name + ".")), key=len)
    return LAYERS[best]


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every jointdiff module a file imports, at the top or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {m for m in found if m == "jointdiff" or m.startswith("jointdiff.")}


def known_module(name: str) -> bool:
    """Whether `name` is a module or package of jointdiff (not a function imported from one)."""
    relative = Path(*name.split("."))
    return (REPO / relative).with_suffix(".py").is_file() or (REPO / relative / "__init__.py").is_file()


def test_imports_only_run_down_the_layers():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = module_name(path)
        for target in filter(known_module, imported_modules(path)):
            if layer_of(target) > layer_of(here):
                upward.append(f"{here} (layer {layer_of(here)}) imports {target} (layer {layer_of(target)})")
    assert not upward, "\n".join(upward)


def test_only_the_training_package_imports_its_modules():
    outside = [p for root in ("jointdiff", "benchmarks", "scripts") for p in (REPO / root).rglob("*.py")
               if PACKAGE / "train" not in p.parents]
    leaks = [f"{p.relative_to(REPO)}: {m}" for p in outside for m in imported_modules(p)
             if m.startswith("jointdiff.train.") and known_module(m)]
    assert not leaks, "\n".join(leaks)


def test_about_a_dozen_files_at_the_top_and_none_past_400_lines():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 16, top
    lengths = {p.relative_to(REPO): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    long = {str(p): n for p, n in lengths.items() if n > 400}
    assert not long, long


def import_graph() -> dict[str, set[str]]:
    """Each jointdiff module -> the jointdiff modules it imports (at the top or inside functions)."""
    return {module_name(path): {m for m in imported_modules(path) if known_module(m)} - {module_name(path)}
            for path in sorted(PACKAGE.rglob("*.py"))}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The modules of every cycle (strongly connected component of more than one module), by Tarjan's algorithm."""
    index, low, on_stack, stack, cycles = {}, {}, set(), [], []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_import_cycle_even_through_imports_inside_functions():
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]  # the finder finds
    assert import_cycles(import_graph()) == []


# Argument helpers that several commands share; no other command module is imported by another.
OPTION_MODULES = {"jointdiff.commands.experiment_options", "jointdiff.commands.tracker_options",
                  "jointdiff.commands.performance_options", "jointdiff.commands.timestep_options"}


def test_no_command_imports_another_command():
    commands = PACKAGE / "commands"
    leaks = [f"{module_name(p)} imports {m}" for p in sorted(commands.glob("*.py"))
             for m in filter(known_module, imported_modules(p))
             if m.startswith("jointdiff.commands.") and m not in OPTION_MODULES | {module_name(p)}]
    assert not leaks, "\n".join(leaks)
    assert all((commands / f"{m.rsplit('.', 1)[1]}.py").is_file() for m in OPTION_MODULES)
