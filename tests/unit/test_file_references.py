"""Docstrings, comments and docs name only files of this repository: a reference to a module, a
query file, a script or a page that does not exist (a file moved, or one that lives elsewhere)
is a reader sent nowhere."""

from __future__ import annotations

import io
import re
import subprocess
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What reads as a file name but names something else: a runtime, a library.
NOT_FILES = {"Node.js", "sql.js"}
_REF = re.compile(r"(?<![\w/.:@-])((?:[\w.-]+/)*[\w-]+\.(?:py|sql|mjs|md|js|ts|sh|ya?ml))\b")
_SCANNED = ("src/", "docs/", "clients/node/", "examples/", "bench/", "scripts/", "deploy/")


def _files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [f for f in listed if "node_modules/" not in f and (ROOT / f).is_file()]


def _prose(path: Path) -> str:
    """What of a file a reader reads as prose: a Python file's comments and strings (so that
    `block.sql`, an attribute, is not taken for a file), any other file whole."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix != ".py":
        return text
    # (Python 3.12 splits an f-string into tokens of its own; 3.11 reads it as one STRING.)
    kept = {tokenize.COMMENT, tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}
    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    return "\n".join(t.string for t in tokens if t.type in kept)


def _exists(ref: str, where: Path, files: list[str]) -> bool:
    places = (
        ROOT / ref,
        ROOT / "src" / "tokensync" / ref,
        where.parent / ref,
        ROOT / "tests" / ref,
    )
    return any(p.exists() for p in places) or any(f.endswith("/" + ref) for f in files)


def test_every_file_named_exists() -> None:
    files = _files()
    scanned = [
        f
        for f in files
        if (f.startswith(_SCANNED) or f in ("README.md", "CHANGELOG.md", "mkdocs.yml"))
        and f.endswith((".py", ".md", ".js", ".mjs", ".ts", ".sql", ".yml", ".yaml", ".sh"))
    ]
    missing = []
    for name in scanned:
        path = ROOT / name
        text = _prose(path)
        for match in _REF.finditer(text):
            ref = match.group(1)
            if ref in NOT_FILES or re.search(r"https?://\S*$", text[: match.start()][-200:]):
                continue
            if not _exists(ref, path, files):
                missing.append(f"{name}: {ref}")
    assert not missing, "\n".join(missing)
