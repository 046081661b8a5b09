"""The scheduler examples are valid: workflows, crontab fields, the Dockerfile, Kubernetes
manifests. crontab.example run through bash is tests/process/test_crontab_example.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tokensync.settings import Settings
from tokensync.times import parse_duration

ROOT = Path(__file__).resolve().parents[2]
FIELD_RANGES = [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


def cron_field_ok(text: str, low: int, high: int) -> bool:
    """One cron field: *, numbers, ranges, steps and lists within the field's range."""
    for part in text.split(","):
        base, _, step = part.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            return False
        if base == "*":
            continue
        bounds = base.split("-")
        if len(bounds) > 2 or not all(b.isdigit() for b in bounds):
            return False
        numbers = [int(b) for b in bounds]
        if not all(low <= n <= high for n in numbers) or numbers != sorted(numbers):
            return False
    return True


def test_cron_field_checker_rejects_garbage() -> None:
    assert cron_field_ok("*/5", 0, 59) and cron_field_ok("1-5,10", 0, 23)
    assert not cron_field_ok("61", 0, 59) and not cron_field_ok("*/0", 0, 59)
    assert not cron_field_ok("5-1", 0, 59) and not cron_field_ok("x", 0, 59)


@pytest.mark.parametrize("name", ["ci.yml", "scheduled.yml"])
def test_workflows_have_what_github_requires(name: str) -> None:
    doc = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    triggers = doc.get("on", doc.get(True))  # PyYAML reads the key `on` as True
    assert triggers, "a workflow needs `on`"
    assert doc["jobs"]
    for job in doc["jobs"].values():
        assert job["runs-on"] and job["steps"]
        for step in job["steps"]:
            assert "uses" in step or "run" in step


def test_ci_runs_the_checks_against_a_healthy_postgres() -> None:
    doc = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    triggers = doc.get("on", doc.get(True))
    assert "push" in triggers and "pull_request" in triggers
    job = doc["jobs"]["test"]
    postgres = job["services"]["postgres"]
    assert postgres["image"] == "postgres:15" and "--health-cmd" in postgres["options"]
    assert job["env"]["TOKENSYNC_TEST_DATABASE_URL"] == (
        "postgresql://postgres:postgres@localhost:5432/postgres"
    )
    runs = [step.get("run") for step in job["steps"]]
    for command in ("ruff check .", "ruff format --check .", "mypy", "pytest -q"):
        assert command in runs
    setup = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/setup-py"))
    assert setup["with"]["python-version"] == "3.11"


def test_scheduled_workflow_runs_both_jobs_safely() -> None:
    doc = yaml.safe_load((ROOT / ".github" / "workflows" / "scheduled.yml").read_text())
    triggers = doc.get("on", doc.get(True))
    crons = {entry["cron"] for entry in triggers["schedule"]}
    assert crons == {"*/5 * * * *", "*/30 * * * *"} and "workflow_dispatch" in triggers
    for job in doc["jobs"].values():
        assert job["concurrency"]["group"] and job["timeout-minutes"]
        run = " ".join(step.get("run", "") for step in job["steps"])
        max_duration = parse_duration(re.search(r"--max-duration (\S+)", run).group(1))  # type: ignore[union-attr]
        assert max_duration < job["timeout-minutes"] * 60
        uploads = [
            s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact")
        ]
        assert uploads and uploads[0]["if"] == "always()"
    assert "env" not in doc, "a workflow-level env reaches every step: secrets go to one step"
    for job in doc["jobs"].values():
        assert "env" not in job, "a job-level env reaches every step of the job"
        # an unset database secret must fail the run, not poll an empty SQLite file
        (run,) = [s for s in job["steps"] if "tokensync " in str(s.get("run", ""))]
        assert 'test -n "$TOKENSYNC_DATABASE_URL"' in run["run"].split("tokensync ")[0]
        env = run["env"]
        assert env["TOKENSYNC_DATABASE_URL"] == "${{ secrets.TOKENSYNC_DATABASE_URL }}"
        assert env["TOKENSYNC_ENCRYPTION_KEYS"] == "${{ secrets.TOKENSYNC_ENCRYPTION_KEYS }}"
        for name in ("SPOTIFY", "GOOGLE", "GITHUB", "DISCORD"):
            for half in ("CLIENT_ID", "CLIENT_SECRET"):
                key = f"TOKENSYNC_{name}_{half}"
                assert env[key] == f"${{{{ secrets.{key} }}}}"
        # No other step sees a secret: not the actions, not the installation.
        for step in job["steps"]:
            if step is not run:
                assert "secrets." not in yaml.safe_dump(step), step


def test_scheduled_workflow_publishes_counts_unless_asked() -> None:
    """Artifacts and step summaries of a public repository are public: counts only, unless the
    repository variable TOKENSYNC_RESULTS asks for more."""
    doc = yaml.safe_load((ROOT / ".github" / "workflows" / "scheduled.yml").read_text())
    for job in doc["jobs"].values():
        (run,) = [s for s in job["steps"] if "tokensync " in str(s.get("run", ""))]
        assert '--results "$RESULTS"' in run["run"]
        assert run["env"]["RESULTS"] == "${{ vars.TOKENSYNC_RESULTS || 'none' }}"


def dockerfile_instructions(*, final_stage: bool = True) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile (its final stage by default), continuation
    lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    instructions = [
        tuple(line.strip().split(None, 1))
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    first = max(i for i, ins in enumerate(instructions) if ins[0] == "FROM") if final_stage else 0
    return [(ins[0], ins[1] if len(ins) > 1 else "") for ins in instructions[first:]]


def kubernetes_docs() -> list[dict[str, Any]]:
    text = (ROOT / "deploy" / "kubernetes" / "cronjob.yaml").read_text()
    return [d for d in yaml.safe_load_all(text) if d]


def cronjobs() -> dict[str, dict[str, Any]]:
    """The CronJobs of the Kubernetes example, by the command their container runs."""
    found = {}
    for doc in kubernetes_docs():
        if doc["kind"] == "CronJob":
            (container,) = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
            args = container["args"]
            command = args[: next((i for i, a in enumerate(args) if a.startswith("-")), None)]
            found[" ".join(command)] = doc
    return found


def worker_cronjobs() -> list[dict[str, Any]]:
    return [job for name, job in cronjobs().items() if name in ("refresh-tokens", "poll-platforms")]


def test_the_dockerfile_is_what_kubernetes_runs() -> None:
    """No container builder runs here (CI builds it): the final stage is checked for a slim
    Python base, tokensync as the entrypoint, and the numeric non-root user Kubernetes names."""
    final = dockerfile_instructions()
    assert final[0][0] == "FROM" and re.match(r"python:3\.1[1-9]\.\d+-slim", final[0][1])
    entrypoint = [json.loads(args) for op, args in final if op == "ENTRYPOINT"]
    assert entrypoint == [["tokensync"]]
    (user,) = [args for op, args in final if op == "USER"]
    uid = int(user.split(":")[0])
    assert uid != 0
    env = " ".join(args for op, args in final if op == "ENV")
    data_dir = re.search(r"TOKENSYNC_DATA_DIR=(\S+)", env).group(1)  # type: ignore[union-attr]
    assert "Dockerfile" in (ROOT / "deploy" / "kubernetes" / "cronjob.yaml").read_text()
    for cronjob in cronjobs().values():
        pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsUser"] == uid
    for cronjob in worker_cronjobs():
        pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        # The container's args are tokensync's command line, after the entrypoint.
        assert container["args"][0] in ("refresh-tokens", "poll-platforms")
        mounts = [m["mountPath"] for m in container["volumeMounts"]]
        assert data_dir in mounts
        assert {"name": "TOKENSYNC_DATA_DIR", "value": data_dir} in container["env"]
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    image_runs = " ".join(str(step.get("run", "")) for step in ci["jobs"]["image"]["steps"])
    assert "docker build" in image_runs and f"= {uid}" in image_runs
    assert "--read-only" in image_runs


def test_the_dockerfile_base_is_pinned_and_its_dependencies_locked() -> None:
    """Both stages build on one base, named by its exact version and its digest; the
    dependencies come from requirements.lock with hashes, and tokensync adds none of its own."""
    everything = dockerfile_instructions(final_stage=False)
    bases = [args.split()[0] for op, args in everything if op == "FROM"]
    assert len(bases) == 2 and len(set(bases)) == 1, bases
    assert re.fullmatch(r"python:3\.1[1-9]\.\d+-slim-[a-z]+@sha256:[0-9a-f]{64}", bases[0])
    runs = [args for op, args in everything if op == "RUN" and "pip install" in args]
    locked, own = runs
    assert "--require-hashes" in locked and "-r requirements.lock" in locked
    assert "--no-deps" in own and own.rstrip().endswith(" .")
    # The lock is in the build context, and copied before the source (its layer survives edits).
    copies = [args for op, args in everything if op == "COPY"]
    assert copies.index("requirements.lock ./") < next(
        i for i, c in enumerate(copies) if c.startswith("src ")
    )
    assert "!requirements.lock" in (ROOT / ".dockerignore").read_text().splitlines()


def test_kubernetes_cronjobs_match_their_max_duration() -> None:
    workers = worker_cronjobs()
    assert len(workers) == 2
    for cronjob in workers:
        assert cronjob["apiVersion"] == "batch/v1"
        assert cronjob["spec"]["concurrencyPolicy"] in ("Allow", "Forbid", "Replace")
        job = cronjob["spec"]["jobTemplate"]["spec"]
        assert job["parallelism"] == job["completions"] == 4
        # One worker's exit 1 must not terminate its siblings: each worker is an index of its
        # own, not retried, and no number of failed indexes ends the others early.
        assert job["completionMode"] == "Indexed"
        assert job["backoffLimitPerIndex"] == 0
        assert job.get("maxFailedIndexes", job["completions"]) >= job["completions"]
        assert "backoffLimit" not in job, "a Job-wide backoffLimit counts every worker's failure"
        pod = job["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["restartPolicy"] in ("Never", "OnFailure")
        # The drain after SIGTERM: a request in flight, then its write to a hanging database.
        defaults = Settings(database_url="sqlite:///x", database_is_default=True, platforms={})
        drain = 2 * defaults.request_timeout + defaults.database_timeout + 5
        assert pod["terminationGracePeriodSeconds"] >= drain + 5
        (container,) = pod["containers"]
        assert container["resources"]["requests"]["cpu"]
        assert container["resources"]["requests"]["memory"]
        args = container["args"]
        assert args[args.index("--fail-on") + 1] == "operator"
        max_duration = parse_duration(args[args.index("--max-duration") + 1])
        # Long enough for requests in flight to finish, short enough to end a stuck run.
        assert max_duration + 30 <= job["activeDeadlineSeconds"] <= max_duration + 120
        assert container["envFrom"][0]["secretRef"]["name"] == "tokensync"
