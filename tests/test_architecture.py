"""The house rules, checked on the source with ``ast`` so a regression fails CI: no import cycles, no import from
a lower layer to a higher one, no ``services: Any``, at most one dynamic import, every test folder a package."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "hanlin"

# Bottom to top: a module may import its own layer and the ones below, never one above. The composition root
# (services) knows every feature; only the entry points (api, cli, web) know the composition root.
LAYERS: list[set[str]] = [
    {"", "config", "errors", "principal", "limits", "offload", "metrics", "store", "jobs", "text", "version", "memory"},
    {"models"},
    {"engine"},
    {"serving"},
    {"platform"},
    {"knowledge", "ocr", "audio", "apps"},
    {"evals", "tuning"},
    {"services"},
    {"api", "cli", "web"},
]
MAX_DYNAMIC_IMPORTS = 1


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {module_name(p): p for p in SRC.rglob("*.py")}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """Imports under ``if TYPE_CHECKING:`` run only for the type checker."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                skip.update(id(n) for n in ast.walk(sub))
    return skip


def imports_of(name: str) -> Iterator[str]:
    """Every hanlin module ``name`` imports, at module level or inside functions (a lazy import is still a
    dependency)."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("hanlin"):
                    yield _existing(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
            if not base.startswith("hanlin"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                yield sub if sub in MODULES else _existing(base)


def _existing(name: str) -> str:
    while name not in MODULES and "." in name:
        name = name.rpartition(".")[0]
    return name


@cache
def graph() -> dict[str, set[str]]:
    return {name: {dep for dep in imports_of(name) if dep != name} for name in MODULES}


def layer_of(module: str) -> int:
    top = module.split(".")[1] if "." in module else ""
    for i, layer in enumerate(LAYERS):
        if top in layer:
            return i
    raise AssertionError(f"{module}: its package '{top}' is in no layer of tests/test_architecture.py")


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles() -> None:
    g = graph()
    # a package's __init__ re-exporting its own modules is not a circle of the design
    found = [c for c in cycles(g) if not all(m.startswith(c[0].rsplit(".", 1)[0]) for m in c)]
    assert found == []


def test_no_import_from_a_lower_layer_to_a_higher_one() -> None:
    upward = [f"{src} -> {dep}" for src, deps in graph().items() for dep in deps
              if layer_of(dep) > layer_of(src)]
    assert upward == []


def test_no_services_any() -> None:
    """Features take what they need, never the whole container typed as Any."""
    found = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.arg) and node.arg == "services" and node.annotation is not None \
                    and ast.unparse(node.annotation) == "Any":
                found.append(f"{name}:{node.lineno}")
            if isinstance(node, ast.AnnAssign) and ast.unparse(node.target).endswith("services") \
                    and ast.unparse(node.annotation) == "Any":
                found.append(f"{name}:{node.lineno}")
    assert found == []


def test_at_most_one_dynamic_import() -> None:
    """Wiring is static (hanlin.services); importlib.import_module / __import__ are for plugins, not features."""
    found = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                fn = ast.unparse(node.func)
                if fn in ("importlib.import_module", "import_module", "__import__"):
                    found.append(f"{name}:{node.lineno}")
    assert len(found) <= MAX_DYNAMIC_IMPORTS, found


def test_every_test_folder_is_a_package() -> None:
    tests = ROOT / "tests"
    missing = [str(d.relative_to(ROOT)) for d in [tests, *tests.rglob("*")]
               if d.is_dir() and any(d.glob("*.py")) and not (d / "__init__.py").exists()]
    assert missing == []


def test_one_composition_root() -> None:
    """Only the entry points import the composition root; nothing but it builds the features."""
    importers = sorted(src for src, deps in graph().items() if "hanlin.services" in deps)
    assert all(m.split(".")[1] in ("api", "cli", "web") for m in importers), importers


def _calls_to(attr: str) -> list[str]:
    """Modules that call or reference ``….attr`` / ``attr`` (by ast, so comments and strings don't count)."""
    found = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == attr or isinstance(node, ast.Name) and node.id == attr:
                found.append(name)
                break
    return sorted(found)


def test_one_cjk_width() -> None:
    """Display width of CJK text is computed in hanlin.text only (callers pick how ambiguous characters count)."""
    assert _calls_to("east_asian_width") == ["hanlin.text"]


def _environ_reads(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, name) of every ``os.environ.get("X")`` / ``os.getenv("X")`` / ``os.environ["X"]`` read."""
    for node in ast.walk(tree):
        key: ast.expr | None = None
        if isinstance(node, ast.Call) and ast.unparse(node.func) in ("os.environ.get", "os.getenv", "environ.get",
                                                                     "getenv") and node.args:
            key = node.args[0]
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) in ("os.environ", "environ") \
                and isinstance(node.ctx, ast.Load):
            key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            yield node.lineno, key.value


def test_hanlin_settings_are_read_through_settings() -> None:
    """``HANLIN_*`` environment variables are read by ``hanlin.config.Settings`` only (one place that validates
    them and that the docs test lists)."""
    found = [f"{name}:{line} {key}" for name, path in MODULES.items() if name != "hanlin.config"
             for line, key in _environ_reads(ast.parse(path.read_text(encoding="utf-8"))) if key.startswith("HANLIN_")]
    assert found == []


def test_one_upload_size_helper() -> None:
    """Upload limits go from MB to bytes in hanlin.limits only (MB = 2**20 everywhere, one 413 message)."""
    found = []
    for name, path in MODULES.items():
        if name == "hanlin.limits":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult) and "_mb" in ast.unparse(node):
                found.append(f"{name}:{node.lineno} {ast.unparse(node)}")
    assert found == []


def test_one_docx_writer() -> None:
    """Every .docx Hanlin writes (公文, the minutes' 纪要) is built by the GB/T 9704 writer; only the eval's gold
    fixtures build their own input documents. Reading one (``Document(path)``) is fine anywhere."""
    found = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("Document", "docx.Document") \
                    and not node.args and not node.keywords:
                found.append(name)
    assert sorted(set(found)) == ["hanlin.apps.documents.writer", "hanlin.evals.gold_build"]
