"""Source trees of other commits, to measure them beside this checkout: git worktrees, compiled
(every side runs from bytecode, as an installed tokensync does), removed afterwards."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THIS = "."  # the revision that names this checkout as it is, uncommitted changes included


@contextmanager
def source_trees(revisions: Sequence[str]) -> Iterator[dict[str, Path]]:
    """The `src` directory of each revision (THIS: this checkout's)."""
    with tempfile.TemporaryDirectory() as place:
        trees: dict[str, Path] = {}
        try:
            for i, rev in enumerate(revisions):
                if rev == THIS:
                    trees[rev] = ROOT
                    continue
                tree = Path(place) / f"tree{i}"
                subprocess.run(
                    ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev],
                    check=True,
                    capture_output=True,
                )
                trees[rev] = tree
            for tree in trees.values():
                subprocess.run(
                    [sys.executable, "-m", "compileall", "-q", str(tree / "src" / "tokensync")],
                    check=True,
                )
            yield {rev: tree / "src" for rev, tree in trees.items()}
        finally:
            for tree in trees.values():
                if tree != ROOT:
                    subprocess.run(
                        ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                        check=False,
                        capture_output=True,
                    )
