"""The code's shape holds: dvc.yaml's deps cover what each stage imports, imports flow one way,
no module grows past a size a reader can hold, and dvc.yaml spells run folders as clar.runs does.

Imports are read from the source (an AST walk), so a change that adds an import to a stage's
code without adding the file to the stage's deps fails here, before it makes DVC skip a rerun.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest
import yaml

from clar import grid, layout, runs
from clar.compose import compose
from clar.config import parse_params
from clar.objectives import OBJECTIVES
from clar.sources import closure, imports, module_name

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400
MAX_FUNCTION_LINES = 80
# The generated stand-ins' instrument synthesis: one table of partials and envelopes per
# instrument family, read as data rather than as logic; splitting it would scatter one sound.
LONG_BY_NATURE = {Path("clar/data/embedded/soundfont.py")}


def dvc_stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def stage_script(stage: dict) -> Path:
    match = re.match(r"python (\S+\.py)", stage["cmd"])
    assert match, f"stage command does not start with `python <script>`: {stage['cmd']}"
    return Path(match.group(1))


def covered(file: Path, deps: list[str]) -> bool:
    return any(file == Path(d) or Path(d) in file.parents for d in deps)


@pytest.mark.parametrize("name", sorted(dvc_stages()))
def test_stage_deps_cover_every_clar_module_it_imports(name):
    stage = dvc_stages()[name]
    script = stage_script(stage)
    deps = [d for d in stage["deps"] if "${" not in d]
    assert str(script) in deps, f"{name}: its script {script} is not among its deps"
    # A folder among the deps says that any of its modules may run (the registry imports a
    # loader by name): what those import is needed too.
    folders = [ROOT / d for d in deps if d.startswith("clar") and (ROOT / d).is_dir()]
    loaded = [p.relative_to(ROOT) for folder in folders for p in folder.rglob("*.py")]
    needed = closure(script, *loaded) | set(loaded)
    missing = sorted(str(f) for f in needed if not covered(f, deps))
    assert not missing, f"{name}: dvc.yaml deps lack {missing}"
    # ... and lists none it does not import, so an edit elsewhere does not rerun it.
    listed = [d for d in deps if d.startswith("clar")]
    unused = [d for d in listed if not any(covered(f, [d]) for f in needed)]
    assert not unused, f"{name}: dvc.yaml deps list {unused}, which the stage does not import"


def package_modules() -> list[Path]:
    return sorted(p.relative_to(ROOT) for p in (ROOT / "clar").rglob("*.py"))


def test_imports_flow_one_way():
    """No cycles among clar's modules, counting every import statement (lazy and
    TYPE_CHECKING ones too)."""
    graph = {
        module_name(p): {n for n in imports(p) if n != module_name(p)} for p in package_modules()
    }
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


@pytest.mark.parametrize("path", package_modules(), ids=str)
def test_no_module_is_too_long_to_read(path):
    if path in LONG_BY_NATURE:
        pytest.skip("synthesis tables (LONG_BY_NATURE)")
    lines = len((ROOT / path).read_text().splitlines())
    assert lines <= MAX_LINES, f"{path} has {lines} lines; split it by concept"
    tree = ast.parse((ROOT / path).read_text())
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{path}: {', '.join(long)}; split along its steps"


def expanded(stage: dict) -> list[dict[str, str]]:
    """The matrix items of a stage, with params.yaml's lists substituted (the quick profile
    and the paper's grid)."""
    matrix = stage.get("matrix", {})
    out = [{}]
    for key, reference in matrix.items():
        values = lookup(reference.strip("${}"))
        out = [{**item, key: str(v)} for item in out for v in values]
    return out


@cache
def composed() -> dict:
    return compose(ROOT / "conf", ["profile=paper", "data=paper"])


def lookup(dotted: str) -> list:
    node = composed()
    for key in dotted.split("."):
        node = node[key]
    return node


def outs_of(stage: dict, item: dict[str, str]) -> list[str]:
    paths = [next(iter(o)) if isinstance(o, dict) else o for o in stage["outs"]]
    return [re.sub(r"\$\{item\.(\w+)\}", lambda m: item[m.group(1)], p) for p in paths]


def test_dvc_yaml_has_one_stage_per_cell_of_the_grid_expansion():
    """dvc.yaml's matrices give exactly the cells of clar.grid (the paper's grid and study) and
    its skipped pairings, each stage's output the folder where clar.runs puts the cell's runs."""
    params = parse_params(composed())
    grid.load_methods(params)
    stages = dvc_stages()
    from_dvc = set()
    for name in ("train", "pretrain"):
        for item in expanded(stages[name]):
            label_free = OBJECTIVES.get(item["objective"]).label_free()
            assert label_free == (name == "pretrain"), (name, item)
            (out,) = outs_of(stages[name], item)
            from_dvc.add((runs.GRID, item["data"], item["input"], item["objective"], out))
    for item in expanded(stages["augmentation-study"]):
        (out,) = outs_of(stages["augmentation-study"], item)
        from_dvc.add((runs.AUGMENTATION, item["data"], out))
    expected = set()
    for cell in grid.grid_cells(params):
        folder = runs.cell_folder(cell.dataset, cell.input, cell.objective)
        for scored in grid.cell_runs(params, cell.dataset, cell.input, cell.objective):
            # One stage per cell: every fraction and seed of the cell lives inside its folder.
            assert runs.folder(scored.run, runs.GRID).parent == folder
            kept = runs.cell_folder(cell.dataset, cell.input, cell.objective, layout.CHECKPOINTS)
            assert runs.checkpoint_folder(scored.run, runs.GRID).parent == kept
        expected.add((runs.GRID, cell.dataset, cell.input, cell.objective, str(folder)))
    for cell in grid.skipped_cells(params):
        # A pairing the objective does not accept: a stage of the matrix, no cell; it writes
        # its note into the folder a cell's runs would have.
        folder = runs.cell_folder(cell.dataset, cell.input, cell.objective)
        expected.add((runs.GRID, cell.dataset, cell.input, cell.objective, str(folder)))
    for cell in grid.study_cells(params):
        folder = runs.experiment_folder(runs.AUGMENTATION, cell.dataset)
        for scored in grid.study_runs(params, cell.dataset):
            assert runs.folder(scored.run, runs.AUGMENTATION).parent == folder
        expected.add((runs.AUGMENTATION, cell.dataset, str(folder)))
    assert from_dvc == expected
    for name, folder in (
        ("sources", layout.source),
        ("prepare", layout.prepared),
        ("features", layout.features),
    ):
        for item in expanded(stages[name]):
            assert outs_of(stages[name], item)[0] == str(folder(item["data"]))
