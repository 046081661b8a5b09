"""The suite's layout: every test file in a tier directory, every tier saying what it holds."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
TIERS = {"unit", "store", "jobs", "platforms", "cli", "process", "support"}


def tier_directories() -> list[Path]:
    return sorted(p for p in TESTS.iterdir() if p.is_dir() and any(p.glob("*.py")))


def test_no_test_file_sits_directly_under_tests() -> None:
    assert sorted(p.name for p in TESTS.glob("test_*.py")) == []


def test_the_tier_directories_are_the_known_ones() -> None:
    assert {p.name for p in tier_directories()} == TIERS


def test_every_tier_directory_has_an_init_with_a_docstring() -> None:
    missing = []
    for tier in tier_directories():
        init = tier / "__init__.py"
        if not init.exists() or not ast.get_docstring(ast.parse(init.read_text())):
            missing.append(tier.name)
    assert missing == []


def test_no_test_file_sits_below_a_tier() -> None:
    deeper = [p for p in TESTS.glob("*/*/**/test_*.py") if "__pycache__" not in p.parts]
    assert deeper == []
