"""The package's layers, checked on its source: inference never imports a trainer, and no module imports itself
back through others.

The rules:
- Only modules under ``videovq/train/`` import from ``videovq.train``, with one exception: ``videovq/cli.py`` may
  import a trainer inside the function that runs a ``videovq train ...`` command (a ``_run_train*`` function), so
  that every other command starts without loading any training code.
- No cycle among ``videovq`` modules, counting every import, also those inside functions (a lazy import that
  closes a cycle still ties the two modules together). Importing a package's ``__init__`` because a submodule of
  it is imported does not count as an edge; an explicit ``from videovq.x import name`` does.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "videovq"
TRAIN = "videovq.train"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path) -> list[tuple[str, str | None]]:
    """(imported videovq module, name of the enclosing top-level function or None) for every import in a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[str, str | None]] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            inner = function
            if function is None and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                inner = child.name
            if isinstance(child, ast.Import):
                found.extend((alias.name, inner) for alias in child.names if alias.name.startswith("videovq"))
            elif isinstance(child, ast.ImportFrom):
                assert child.level == 0, f"{path}: use absolute imports (line {child.lineno})"
                if child.module and child.module.startswith("videovq"):
                    for alias in child.names:  # `from videovq.x import y` imports videovq.x.y when that is a module
                        sub = f"{child.module}.{alias.name}"
                        found.append((sub if sub in MODULES else child.module, inner))
            visit(child, inner)

    visit(tree, None)
    return found


GRAPH = {name: imports(path) for name, path in MODULES.items()}


def is_train(module: str) -> bool:
    return module == TRAIN or module.startswith(TRAIN + ".")


def test_every_import_names_a_module_of_the_package():
    unknown = {(m, dep) for m, deps in GRAPH.items() for dep, _ in deps if dep not in MODULES}
    assert not unknown, f"imports of modules that do not exist: {sorted(unknown)}"


def test_only_trainers_and_the_train_command_import_training_code():
    bad = []
    for module, deps in GRAPH.items():
        if is_train(module):
            continue
        for dep, function in deps:
            if not is_train(dep):
                continue
            if module == "videovq.cli" and function is not None and function.startswith("_run_train"):
                continue
            where = f" (in {function})" if function else ""
            bad.append(f"{module}{where} imports {dep}")
    assert not bad, "inference code imports training code:\n" + "\n".join(sorted(set(bad)))


def test_no_import_cycles():
    edges = {m: sorted({dep for dep, _ in deps if dep in MODULES and dep != m}) for m, deps in GRAPH.items()}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []
    cycles: list[list[str]] = []

    def walk(module: str) -> None:
        state[module] = 1
        path.append(module)
        for dep in edges[module]:
            if state.get(dep) == 1:
                cycles.append(path[path.index(dep) :] + [dep])
            elif dep not in state:
                walk(dep)
        path.pop()
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            walk(module)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_checks_see_what_they_check():
    # The rules above pass vacuously if the parser finds no imports; make sure it finds the arrows we know of.
    assert ("videovq.vldm.inflate", None) in GRAPH["videovq.train.video_ldm"]
    assert any(dep == "videovq.train.tokenizer" and fn == "_run_train_tokenizer" for dep, fn in GRAPH["videovq.cli"])
