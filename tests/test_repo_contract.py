"""The repo contract: dependencies in step, clean notebooks, layers pointing down."""

from __future__ import annotations

import ast
import json
import pathlib
import re
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    tomllib = pytest.importorskip("tomli")


def _name_and_bound(req: str) -> tuple[str, str]:
    req = req.split(";")[0]  # an environment marker (tomli: Python 3.10 only) is pip's alone
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    assert m, req
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = dict(_name_and_bound(r) for r in project["dependencies"])
    wanted.update(_name_and_bound(r) for r in project["optional-dependencies"]["test"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] == "wslab" and env["channels"] == ["conda-forge"]
    listed = dict(_name_and_bound(d) for d in env["dependencies"]
                  if isinstance(d, str) and not d.startswith(("python", "pip")))
    assert listed == wanted


def test_the_zh_extra_is_jupyterlabs_language_pack_in_environment_yml_too():
    """`pip install 'wslab[zh]'` (and the conda environment) make JupyterLab itself Chinese."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    zh = project["optional-dependencies"]["zh"]
    assert [_name_and_bound(r) for r in zh] == [("jupyterlab-language-pack-zh-cn", ">=4.0,<5")]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert sorted(pip) == sorted(zh)


def test_runtime_dependencies_have_lower_bounds():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for req in project["dependencies"] + project["optional-dependencies"]["test"]:
        assert ">=" in req, f"{req} has no lower bound"
    names = {_name_and_bound(r)[0] for r in project["dependencies"]}
    assert {"jupyterlab", "ipywidgets", "tornado", "matplotlib"} <= names


def test_notebooks_are_committed_clean_with_a_kernelspec():
    for path in sorted([*(ROOT / "notebooks").glob("*.ipynb"),
                         *(ROOT / "notebooks" / "zh-CN").glob("*.ipynb")]):
        nb = json.loads(path.read_text())
        assert "kernelspec" in nb["metadata"], f"{path.name}: no kernelspec"
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [], f"{path.name}: outputs committed"
                assert cell["execution_count"] is None, f"{path.name}: execution_count set"


def test_notebook_code_fits_a_projector():
    """At 1024 px with the side bar collapsed a code cell shows about 104 characters; a longer
    line is cut off on the classroom screen (JupyterLab scrolls it sideways)."""
    long = []
    for path in sorted([*(ROOT / "notebooks").glob("*.ipynb"),
                         *(ROOT / "notebooks" / "zh-CN").glob("*.ipynb")]):
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == "code":
                long += [f"{path.name} cell {i}: {len(line)} chars"
                         for line in "".join(cell["source"]).splitlines() if len(line) > 100]
    assert not long, long


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package
                pkg = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-node.level])
                found.add(f"{pkg}.{node.module}" if node.module else pkg)
            elif node.module:
                found.add(node.module)
    return found


# Layers (docs/ARCHITECTURE.md): imports point down only.  ui and exercises share
# layer 4 but neither imports the other; classroom and the package root sit on top.
LAYER = {"wslab.protocol": 1, "wslab.i18n": 1, "wslab.net": 2, "wslab.labs": 3, "wslab.ui": 4,
         "wslab.exercises": 4, "wslab.classroom": 5, "wslab.__main__": 5, "wslab.cli": 5,
         "wslab.course": 5}
SIBLINGS = {("wslab.ui", "wslab.exercises"), ("wslab.exercises", "wslab.ui")}


def _part(module: str) -> str | None:
    for prefix in LAYER:
        if module == prefix or module.startswith(prefix + "."):
            return prefix
    return None


def _layer(module: str) -> int | None:
    part = _part(module)
    return LAYER[part] if part else None


def test_imports_point_down_only():
    for path in (ROOT / "wslab").rglob("*.py"):
        mod = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        mine = _layer(mod)
        if mine is None:
            continue
        for imp in _imports(path):
            theirs = _layer(imp)
            if theirs is not None:
                assert theirs <= mine, f"{mod} (layer {mine}) imports {imp} (layer {theirs})"
                assert (_part(mod), _part(imp)) not in SIBLINGS, f"{mod} imports {imp}"


def test_every_module_has_a_layer():
    for path in (ROOT / "wslab").rglob("*.py"):
        mod = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        if mod in {"wslab.__init__"}:
            continue
        assert _layer(mod) is not None, f"{mod} is in no layer of docs/ARCHITECTURE.md"


def test_protocol_layer_uses_the_standard_library_only():
    stdlib = set(sys.stdlib_module_names)
    for path in (ROOT / "wslab" / "protocol").rglob("*.py"):
        for imp in _imports(path):
            top = imp.split(".")[0]
            assert top in stdlib or imp.startswith("wslab.protocol"), f"{path.name} imports {imp}"
            assert top not in {"socket", "asyncio", "time", "threading", "selectors"}, \
                f"{path.name} imports {imp}: layer 1 has no sockets, loops or clocks"


def test_every_public_name_is_exported_and_documented():
    import wslab
    for name in wslab.__all__:
        assert hasattr(wslab, name), name
    assert issubclass(wslab.ConnectionFailed, wslab.WSLabError)
    assert issubclass(wslab.ProtocolError, wslab.WSLabError)
    arch = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    for name in ("serve", "connect", "stop_all", "LabServer", "Client"):
        assert name in arch


def test_readme_starts_with_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^\s*(make \w+)\s*$", readme, flags=re.M)
    assert commands[:2] == ["make lab", "make test"]


def test_pytest_timeout_exceeds_every_inner_timeout():
    """The inner, clearer timeout message must fire before pytest-timeout kills the test."""
    pytest_ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    outer = pytest_ini["ini_options"]["timeout"]
    inner = []
    for path in (ROOT / "tests").glob("*.py"):
        for m in re.finditer(r"\btimeout\s*=\s*([0-9][0-9_.]*)\b", path.read_text()):
            value = float(m.group(1).replace("_", ""))
            # Playwright counts in milliseconds; everything else here in seconds.
            inner.append((value / 1000 if value >= 1000 else value, path.name))
    assert inner, "no inner timeouts found: the scan is broken"
    worst = max(inner)
    assert worst[0] < outer, f"{worst[1]} waits {worst[0]} s, pytest's timeout is {outer} s"


# Import circles between the modules of wslab: every import counts, at module level, under
# TYPE_CHECKING, or lazily inside a function (it only hides the circle until the call).
# ``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg``;
# a package is its ``__init__.py``.


def _modules() -> dict[str, pathlib.Path]:
    mods = {}
    for path in (ROOT / "wslab").rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = path
    return mods


def _edges(mod: str, path: pathlib.Path, mods: dict[str, pathlib.Path]) -> set[str]:
    package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
            continue
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package[:len(package) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in mods]
        out.update(subs)
        if len(subs) < len(node.names):
            out.add(target)
    return {m for m in out if m in mods and m != mod}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_the_circle_finder_finds_circles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"f"}, "f": {"e"}, "g": set()}
    assert sorted(_circles(graph)) == [["a", "b", "c"], ["e", "f"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_inside_wslab():
    mods = _modules()
    graph = {m: _edges(m, p, mods) for m, p in mods.items()}
    assert graph["wslab.net.server"] >= {"wslab.net.server.serve"}  # the scan sees edges
    circles = _circles(graph)
    assert not circles, "import circles (each a group of modules reaching each other):\n" + \
        "\n".join("  " + ", ".join(c) for c in circles)


def test_make_check_and_make_test_split_the_tests_by_the_slow_marker():
    """`make check` runs `-m "not slow"`, `make test` then `-m slow`: complementary, so
    together every test runs once; each slow module and test named in conftest exists."""
    from tests import conftest

    make = (ROOT / "Makefile").read_text()
    runs = re.findall(r"pytest (-m (?:slow|\"not slow\"))\s(.*)\$\(PYTEST_ARGS\)", make)
    assert sorted(marker for marker, _ in runs) == ['-m "not slow"', "-m slow"], runs
    # the rest of each line only spreads the same selection over workers (pytest-xdist),
    # keeps groups together and reports the slowest tests
    assert all(re.fullmatch(r"(-n \$\(\w+\)( --dist loadgroup)?( --durations=\d+)?\s*)?", rest)
               for _, rest in runs), runs
    ini = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    assert any(m.startswith("slow:") for m in ini["markers"])
    for module in conftest.SLOW_MODULES:
        assert (ROOT / "tests" / module).is_file(), module
    for test in conftest.SLOW_TESTS:
        module, name = test.split("::")
        assert re.search(rf"^def {name}\(", (ROOT / "tests" / module).read_text(), re.M), test


@pytest.mark.slow
def test_the_two_runs_select_every_test_exactly_once():
    """The two runs' marker expressions are complementary (the test above reads the Makefile);
    one collection shows what the slow one selects and leaves to the other (three collections
    took 86 s on CI)."""
    import subprocess

    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                           "-p", "no:cacheprovider", "-m", "slow"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    slow = [line for line in proc.stdout.splitlines() if "::" in line]
    m = re.search(r"(\d+)/(\d+) tests collected \((\d+) deselected\)", proc.stdout)
    assert m, proc.stdout[-500:]
    chosen, every, fast = (int(g) for g in m.groups())
    assert chosen == len(slow) == len(set(slow)) and chosen + fast == every > 500
    assert fast > chosen > 50  # both runs hold tests
    assert any("test_notebooks.py" in t for t in slow)
    assert not any(line.startswith("tests/test_protocol_frames.py") for line in slow)
