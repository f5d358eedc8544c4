"""The layers of the package: no import cycle, and the science never imports the machinery.

models/, circuits/ and protocols/ import only the leaf utilities of `dopasim` (LEAVES);
only the orchestration (runner, comparison, export, cli, config) imports protocols. No
import inside a function exists to dodge a cycle: moved to the top of its module, every
such import would still leave the module graph without a cycle.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).parents[1]
PACKAGES = {
    "dopasim": ROOT / "dopasim",
    "dopasim.models": ROOT / "models",
    "dopasim.circuits": ROOT / "circuits",
    "dopasim.protocols": ROOT / "protocols",
}
#: what models, circuits and protocols may import from dopasim itself
LEAVES = {
    "dopasim._version",
    "dopasim.params",
    "dopasim.seeding",
    "dopasim.analysis",
    "dopasim.distributional",
    "dopasim.plots",
    "dopasim.memory",
    "dopasim.protocol",
}
SCIENCE = ("dopasim.models", "dopasim.circuits", "dopasim.protocols")


def _modules():
    mods = {}
    for pkg, folder in PACKAGES.items():
        for f in folder.glob("*.py"):
            mods[pkg if f.stem == "__init__" else f"{pkg}.{f.stem}"] = f
    return mods


MODULES = _modules()


def _resolve(name):
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports():
    """{module: (imports at import time, imports inside functions or __main__)}."""
    out = {}
    for mod, path in MODULES.items():
        top, lazy = set(), set()

        def visit(node, deferred, mod=mod, top=top, lazy=lazy):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.Import | ast.ImportFrom):
                    if isinstance(child, ast.Import):
                        names = [a.name for a in child.names]
                    elif child.module:
                        subs = [f"{child.module}.{a.name}" for a in child.names]
                        names = [n for n in subs if n in MODULES] or [child.module]
                    else:
                        names = []
                    for n in names:
                        r = _resolve(n)
                        # a package's own __init__ is not an edge: `from pkg import sub`
                        if r and r != mod and r not in PACKAGES:
                            (lazy if deferred else top).add(r)
                scope = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
                main = isinstance(child, ast.If) and "__main__" in ast.dump(child.test)
                visit(child, deferred or scope or main)

        visit(ast.parse(path.read_text()), False)
        out[mod] = (top, lazy)
    return out


IMPORTS = _imports()


def _reaches(graph, start, goal):
    seen, stack = set(), [start]
    while stack:
        x = stack.pop()
        if x == goal:
            return True
        if x not in seen:
            seen.add(x)
            stack.extend(graph.get(x, ()))
    return False


def test_the_checker_sees_the_package():
    assert {"dopasim.runner", "dopasim.protocols.pavlovian", "dopasim.models.pools"} <= set(MODULES)
    assert "dopasim.protocols.pavlovian" in IMPORTS["dopasim.protocols.conditioning"][0]


def test_no_import_cycle_at_import_time():
    top = {m: t for m, (t, _) in IMPORTS.items()}
    cycles = sorted((a, b) for a, targets in top.items() for b in targets if _reaches(top, b, a))
    assert not cycles, f"import cycles: {cycles}"


def test_no_import_inside_a_function_dodges_a_cycle():
    every = {m: t | lazy for m, (t, lazy) in IMPORTS.items()}
    dodges = sorted(
        (a, b) for a, (_, lazy) in IMPORTS.items() for b in lazy if _reaches(every, b, a)
    )
    assert not dodges, f"moved to the top, these would close a cycle: {dodges}"


def test_the_science_imports_only_the_leaf_utilities():
    wrong = sorted(
        (a, b)
        for a, (top, lazy) in IMPORTS.items()
        if a.startswith(SCIENCE)
        for b in top | lazy
        if b.startswith("dopasim.") and not b.startswith(SCIENCE) and b not in LEAVES
        and not (b == "dopasim.cli" and b in lazy)  # a protocol module run as a script
    )  # fmt: skip
    assert not wrong, f"models/circuits/protocols import the machinery: {wrong}"


def test_the_leaves_import_no_science_and_no_machinery():
    wrong = sorted(
        (a, b)
        for a in LEAVES
        for b in IMPORTS[a][0] | IMPORTS[a][1]
        if b not in LEAVES
    )  # fmt: skip
    assert not wrong, wrong


def test_importing_a_leaf_loads_no_machinery():
    """The package's __init__ imports the API lazily (PEP 562): a leaf utility imports
    without the runner, the comparison or the exporters."""
    import subprocess
    import sys

    code = (
        "import sys, dopasim.params, dopasim.seeding\n"
        "loaded = [m for m in ('dopasim.runner', 'dopasim.comparison', 'dopasim.export',"
        " 'dopasim.protocols') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
        "import dopasim\n"
        "assert dopasim.compare.__module__ == 'dopasim.comparison'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
