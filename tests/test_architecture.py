"""The package's import graph runs one way: no cycles, and no module reaches into another's
private names (a leading underscore is a module's own business).

Read from the source with `ast` (module-level and function-level imports alike: a lazy import
inside a function is still a dependency), so it needs no import of the package itself.
"""
from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = "vivit_jax"


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The package module `name` refers to (a module, or the module owning an attribute)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str, path: pathlib.Path):
    """(imported module, private names it uses, line) for every import of the package in
    `path`, and the `alias.attr` uses of imported package modules."""
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    aliases: dict[str, str] = {}  # local name -> package module it is bound to.
    edges = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                target = _resolve(a.name)
                if target:
                    edges.append((target, [], node.lineno))
                    if a.asname:
                        aliases[a.asname] = target
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[:len(base) - node.level + (1 if is_pkg else 0)]
                src = ".".join(base + ([node.module] if node.module else []))
            else:
                src = node.module or ""
            if not src.startswith(PACKAGE):
                continue
            for a in node.names:
                sub = f"{src}.{a.name}"
                if sub in MODULES:  # `from pkg import module`
                    edges.append((sub, [], node.lineno))
                    aliases[a.asname or a.name] = sub
                else:
                    private = [a.name] if a.name.startswith("_") else []
                    edges.append((_resolve(src), private, node.lineno))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                and node.value.id in aliases and node.attr.startswith("_")
                and not node.attr.startswith("__")):
            edges.append((aliases[node.value.id], [node.attr], node.lineno))
    return edges


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def _is_ancestor_package(a: str, b: str) -> bool:
    """`a` is a package containing `b` (importing `b` runs `a/__init__.py` first)."""
    return b.startswith(a + ".")


def test_no_module_uses_another_modules_private_names():
    offences = [f"{MODULES[m].relative_to(ROOT)}:{line} uses {target}.{name}"
                for m, edges in GRAPH.items() for target, private, line in edges
                for name in private if target != m]
    assert not offences, "\n".join(offences)


def _cycles(deps: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module: the import cycles."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in deps.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for m in deps:
        if m not in index:
            visit(m)
    return cycles


def test_import_graph_has_no_cycles():
    deps = {m: sorted({t for t, _, _ in edges if t != m and not _is_ancestor_package(t, m)})
            for m, edges in GRAPH.items()}
    cycles = _cycles(deps)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_checks_can_fail(tmp_path):
    """A planted private use and a planted cycle are found."""
    a = tmp_path / "a.py"
    a.write_text("from vivit_jax import train\nx = train._log\n"
                 "def f():\n    from vivit_jax.train import _check_finite\n")
    edges = _imports("vivit_jax.fake_a", a)
    assert ("vivit_jax.train", ["_log"], 2) in edges
    assert ("vivit_jax.train", ["_check_finite"], 4) in edges
    assert _cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]
    assert _cycles({"a": ["b"], "b": [], "c": ["a"]}) == []


# Every released-checkpoint format module must define these (`released.FORMATS`' contract).
FORMAT_ENTRY_POINTS = {"matches", "read"}
FORMAT_SHARED_LAYER = {"__init__.py", "common.py"}


def _format_function_names() -> dict[str, list[str]]:
    """Module-level function name → the format readers that define it."""
    owners: dict[str, list[str]] = {}
    for path in sorted((ROOT / PACKAGE / "convert" / "formats").glob("*.py")):
        if path.name in FORMAT_SHARED_LAYER:
            continue
        for node in ast.parse(path.read_text(), str(path)).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                owners.setdefault(node.name, []).append(path.name)
    return owners


def test_no_function_name_is_defined_in_two_format_readers():
    """What two readers both need lives once in `formats/common.py`; only the entry points the
    registry calls are defined by every reader."""
    owners = _format_function_names()
    assert all(owners.get(name) and len(owners[name]) > 1 for name in FORMAT_ENTRY_POINTS)
    twice = {n: files for n, files in owners.items()
             if len(files) > 1 and n not in FORMAT_ENTRY_POINTS}
    assert not twice, f"defined in several format readers (move them to common.py): {twice}"

# --- Files only through fileio; checkpoints found in one module ----------------------------


def _gfile_uses(path: pathlib.Path) -> list[int]:
    """Lines of `path` that reach tf.io.gfile: a `….gfile` attribute, an import of gfile."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Attribute) and node.attr == "gfile":
            lines.append(node.lineno)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            if any("gfile" in n.split(".") for n in names):
                lines.append(node.lineno)
    return lines


def test_only_fileio_touches_tf_io_gfile():
    offences = [f"{p.relative_to(ROOT)}:{line}" for m, p in MODULES.items()
                if m != f"{PACKAGE}.fileio" for line in sorted(_gfile_uses(p))]
    assert not offences, ("tf.io.gfile outside fileio.py (go through vivit_jax.fileio): "
                          + ", ".join(offences))


_LISTING = {"listdir", "iterdir", "scandir", "glob", "walk"}


def _named_as_resolver(name: str) -> bool:
    """A name for finding a checkpoint or its step: `resolve_checkpoint`, `latest_step`,
    `find_ckpt_dir`, `resolve_params_dir`, …"""
    name = name.lower().lstrip("_")
    return name.startswith(("resolve", "find", "locate", "latest", "last")) and any(
        w in name for w in ("checkpoint", "ckpt", "step", "params_dir", "orbax"))


def _checkpoint_finding(path: pathlib.Path) -> list[str]:
    """What in `path` finds or reads checkpoints by itself: an import of Orbax (its managers,
    step lookups and metadata), a function named as a resolver, or a function that picks
    the numbered entries of a directory listing (the steps of a `checkpoints/` directory)."""
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "orbax"
                                                for a in node.names):
            found.append(f"{node.lineno}: imports orbax")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "orbax":
            found.append(f"{node.lineno}: imports orbax")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if _named_as_resolver(node.name):
                found.append(f"{node.lineno}: defines {node.name}()")
            called = {n.func.attr if isinstance(n.func, ast.Attribute) else
                      getattr(n.func, "id", "") for n in ast.walk(node)
                      if isinstance(n, ast.Call)}
            if called & _LISTING and "isdigit" in called:
                found.append(f"{node.lineno}: {node.name}() picks numbered entries of a listing")
    return found


def test_checkpoints_are_found_and_read_only_in_checkpoint_py():
    """One resolver: `vivit_jax.checkpoint.resolve` (and its Orbax reads and writes)."""
    offences = [f"{p.relative_to(ROOT)}:{what}" for m, p in MODULES.items()
                if m != f"{PACKAGE}.checkpoint" for what in _checkpoint_finding(p)]
    assert not offences, ("checkpoints found or read outside vivit_jax/checkpoint.py "
                          "(use checkpoint.resolve / restore_params): " + "; ".join(offences))


def test_the_file_and_checkpoint_checks_can_fail(tmp_path):
    """A planted gfile call and planted second resolvers are found."""
    a = tmp_path / "a.py"
    a.write_text("from vivit_jax.data.tf_quiet import tf\nfrom tensorflow.io import gfile\n"
                 "def f(p):\n    return tf.io.gfile.exists(p)\n")
    assert _gfile_uses(a) == [2, 4]
    b = tmp_path / "b.py"
    b.write_text("import os\n"
                 "def pick(workdir):\n"
                 "    d = os.path.join(workdir, 'checkpoints')\n"
                 "    return max(int(n) for n in os.listdir(d) if n.isdigit())\n"
                 "def resolve_checkpoint(p):\n    return p\n"
                 "def g(p):\n    import orbax.checkpoint as ocp\n"
                 "    return ocp.CheckpointManager(p).latest_step()\n")
    assert _checkpoint_finding(b) == ["2: pick() picks numbered entries of a listing",
                                      "5: defines resolve_checkpoint()", "8: imports orbax"]

# --- The dataset kind is decided only in data/sources.py ----------------------------------

KIND_MODULE = "vivit_jax.data.sources"
_KINDS = {"synthetic_motion", "dmvr"}  # And every 'tfds:<name>'.
# Names that choose or test a kind: the TFDS prefix, the kind test, the Source classes.
_KIND_NAMES = {"is_tfds", "TFDS_PREFIX", "KNOWN_DATASETS", "Tfds", "DmvrShards",
               "SyntheticMotion"}
# Literals that mean something else there: vivit-prepare's annotation format 'dmvr' (a CSV
# layout, data/annotations.py), not a dataset kind.
_OTHER_MEANING = {"vivit_jax.data.annotations": {"dmvr"}}


def _is_kind(value, module: str) -> bool:
    return isinstance(value, str) and (value.startswith("tfds") or (
        value in _KINDS and value not in _OTHER_MEANING.get(module, ())))


def _kind_decisions(module: str, source: str) -> list[str]:
    """Lines of `source` that ask which dataset kind a config names: a comparison, `match`
    case, dict key or `startswith` with a kind's name ('synthetic_motion', 'dmvr', 'tfds…'),
    a use of the kind test / TFDS prefix / Source classes, an import of tensorflow_datasets."""
    found = []
    for node in ast.walk(ast.parse(source)):
        literals = []
        if isinstance(node, ast.Compare):
            literals = [n for side in (node.left, *node.comparators) for n in ast.walk(side)]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in ("startswith", "endswith", "removeprefix"):
            literals = [n for a in node.args for n in ast.walk(a)]
        elif isinstance(node, ast.MatchValue):
            literals = [node.value]
        elif isinstance(node, ast.Dict):
            literals = [k for k in node.keys if k is not None]
        if any(isinstance(n, ast.Constant) and _is_kind(n.value, module) for n in literals):
            found.append(f"{node.lineno}: compares with a dataset kind's name")
        if (isinstance(node, ast.Attribute) and node.attr in _KIND_NAMES) or (
                isinstance(node, ast.Name) and node.id in _KIND_NAMES):
            found.append(f"{node.lineno}: uses {getattr(node, 'attr', getattr(node, 'id', ''))}")
        if isinstance(node, ast.ImportFrom) and any(a.name in _KIND_NAMES for a in node.names):
            found.append(f"{node.lineno}: imports a kind name from {node.module}")
        names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                 [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        if any(n.split(".")[0] == "tensorflow_datasets" for n in names):
            found.append(f"{node.lineno}: imports tensorflow_datasets")
    return found


def test_the_dataset_kind_is_decided_only_in_the_sources_module():
    """Everyone else calls `sources.for_config(cfg.dataset)` and the Source's methods."""
    offences = [f"{MODULES[m].relative_to(ROOT)}:{where}" for m in MODULES if m != KIND_MODULE
                for where in _kind_decisions(m, MODULES[m].read_text())]
    assert not offences, "\n".join(offences)
    assert _kind_decisions(KIND_MODULE, MODULES[KIND_MODULE].read_text())  # It does decide.


def test_the_dataset_kind_check_can_fail():
    planted = {
        "if cfg.dataset.name == 'synthetic_motion':\n    pass\n": "compares",
        "ok = d.name in ('dmvr', 'x')\n": "compares",
        "tf = cfg.name.startswith('tfds:')\n": "compares",
        "from vivit_jax.data import sources\nt = sources.is_tfds(cfg.name)\n": "uses is_tfds",
        "x = isinstance(src, sources.Tfds)\n": "uses Tfds",
        "from vivit_jax.data.sources import TFDS_PREFIX\n": "imports a kind name",
        "import tensorflow_datasets as tfds\n": "imports tensorflow_datasets",
        "match cfg.name:\n    case 'dmvr':\n        pass\n": "compares",
        "reader = {'dmvr': 1, 'synthetic_motion': 2}[name]\n": "compares",
    }
    for source, what in planted.items():
        found = _kind_decisions("vivit_jax.fake", source)
        assert any(what in f for f in found), (source, found)
    assert not _kind_decisions("vivit_jax.fake", "c = dict(name='dmvr', num_classes=3)\n")
    assert not _kind_decisions("vivit_jax.data.annotations", "if fmt == 'dmvr':\n    pass\n")
