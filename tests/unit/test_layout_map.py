"""The maps of the code say what the tree holds: the README names every package and top-level
module of src/tokensync, docs/development.md names every module, neither names one that is gone,
and every package says what it holds in its docstring."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "tokensync"


def _top_level() -> set[str]:
    """The packages (as `name/`) and modules (as `name.py`) directly under src/tokensync."""
    names = {f"{p.name}/" for p in SRC.iterdir() if (p / "__init__.py").exists()}
    names |= {p.name for p in SRC.glob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    return names


def _section(path: Path, heading: str) -> str:
    text = path.read_text()
    start = text.index(heading)
    end = text.find("\n#", start + len(heading))
    return text[start : end if end != -1 else len(text)]


def test_the_readme_names_every_package_and_top_level_module() -> None:
    section = _section(ROOT / "README.md", "### How the code is laid out")
    named = set(re.findall(r"`([\w]+/|[\w]+\.py)`", section))
    assert named == _top_level()


def test_the_development_map_names_every_module_and_nothing_else() -> None:
    section = _section(ROOT / "docs" / "development.md", "## How it is built")
    block = section[section.index("```") : section.index("```", section.index("```") + 3)]
    current = ""
    named: set[str] = set()
    for line in block.splitlines()[1:]:
        head = re.match(r"  ([\w]+/|[\w]+\.py)\s", line + " ")
        if head:
            current = head.group(1) if head.group(1).endswith("/") else ""
            if not current:
                named.add(head.group(1))
        if current:
            named |= {current + m for m in re.findall(r"\b([a-z_]+\.(?:py|sql))\b", line)}
            named.add(current)
    modules = {
        str(p.relative_to(SRC)).replace("\\", "/")
        for p in SRC.rglob("*.py")
        if p.name != "__init__.py" and "migrations" not in p.parts and p.parent != SRC
    }
    packages = {f"{p.name}/" for p in SRC.iterdir() if (p / "__init__.py").exists()}
    top = {p.name for p in SRC.glob("*.py") if p.name not in ("__init__.py", "__main__.py")}
    # every module of the packages whose modules the map lists (schemas/ holds JSON files)
    listed = {m for m in modules if not m.startswith("schemas/")}
    assert listed <= named, f"not in the map: {sorted(listed - named)}"
    gone = {n for n in named if not (SRC / n.rstrip("/")).exists()}
    assert not gone, f"in the map, not in the tree: {sorted(gone)}"
    assert packages | top <= named


def test_every_package_says_what_it_holds() -> None:
    for init in SRC.rglob("__init__.py"):
        if "migrations" in init.parts:
            continue
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc) > 20, f"{init.relative_to(ROOT)} has no docstring"


def test_no_module_is_over_400_lines() -> None:
    """A module past 400 lines holds more than one thing: split it by what it holds."""
    long = {
        str(p.relative_to(SRC)): n
        for p in SRC.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert not long
