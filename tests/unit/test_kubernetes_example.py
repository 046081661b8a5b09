"""The Kubernetes example is admitted under Pod Security "restricted", runs a fixed build, needs
no ReadWriteMany storage and prunes tombstones on a schedule."""

from __future__ import annotations

import copy
import re
import tomllib
from typing import Any

from tests.unit.test_deploy_examples import ROOT, cronjobs, kubernetes_docs
from tokensync.times import parse_duration

# The Pod Security Standard "restricted" (which includes "baseline"), as the API server's
# admission checks it, plus the two things this example promises beyond it.
RESTRICTED_VOLUME_TYPES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret",
}  # fmt: skip


def restricted_violations(pod: dict[str, Any]) -> list[str]:
    """What keeps a pod spec from the restricted profile, field by field (empty: admitted)."""
    found = []
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            found.append(field)
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            found.append(f"volume {volume['name']}: {sorted(kinds)}")
    pod_context = pod.get("securityContext", {})
    if pod_context.get("runAsUser") == 0:
        found.append("pod runAsUser 0")
    if pod.get("automountServiceAccountToken") is not False:
        found.append("automountServiceAccountToken is not false")
    containers = pod.get("containers", []) + pod.get("initContainers", [])
    for container in containers:
        context = container.get("securityContext", {})
        name = container["name"]
        if context.get("privileged"):
            found.append(f"{name}: privileged")
        if context.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation is not false")
        capabilities = context.get("capabilities", {})
        if "ALL" not in capabilities.get("drop", []):
            found.append(f"{name}: capabilities not dropped")
        if set(capabilities.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: capabilities added")
        if context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is not True:
            found.append(f"{name}: runAsNonRoot is not true")
        if context.get("runAsUser") == 0:
            found.append(f"{name}: runAsUser 0")
        seccomp = context.get("seccompProfile", pod_context.get("seccompProfile", {}))
        if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
            found.append(f"{name}: seccompProfile is not RuntimeDefault or Localhost")
        if context.get("readOnlyRootFilesystem") is not True:
            found.append(f"{name}: root filesystem writable")
        if any("hostPort" in port for port in container.get("ports", [])):
            found.append(f"{name}: hostPort")
    return found


def test_the_restricted_profile_checker_finds_each_gap() -> None:
    pod = cronjobs()["refresh-tokens"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert restricted_violations(pod) == []
    breakages = [
        ("securityContext", "seccompProfile", None),
        ("container", "runAsNonRoot", False),
        ("automountServiceAccountToken", None, True),
        ("container", "allowPrivilegeEscalation", True),
        ("container", "readOnlyRootFilesystem", False),
        ("container", "capabilities", {"drop": ["NET_RAW"]}),
        ("container", "privileged", True),
    ]
    for where, key, value in breakages:
        broken = copy.deepcopy(pod)
        target = (
            broken["containers"][0]["securityContext"]
            if where == "container"
            else broken[where]
            if key
            else broken
        )
        if key is None:
            broken[where] = value
        elif value is None:
            del target[key]
        else:
            target[key] = value
        assert restricted_violations(broken), (where, key, value)
    host = copy.deepcopy(pod)
    host["volumes"].append({"name": "root", "hostPath": {"path": "/"}})
    assert restricted_violations(host)


def test_every_kubernetes_pod_meets_the_restricted_profile() -> None:
    jobs = cronjobs()
    assert set(jobs) == {"refresh-tokens", "poll-platforms", "data prune"}
    for cronjob in jobs.values():
        pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        assert restricted_violations(pod) == [], cronjob["metadata"]["name"]


def test_the_kubernetes_image_is_a_version_or_a_digest() -> None:
    """Every pod of a run, and the next run, must run the same build: never :latest or no tag."""
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for cronjob in cronjobs().values():
        pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        image = container["image"]
        by_digest = re.fullmatch(r"[\w./-]+@sha256:[0-9a-f]{64}", image)
        assert by_digest or image.rsplit(":", 1)[-1] == version, image
        assert container.get("imagePullPolicy") != "Always" or by_digest


def test_kubernetes_needs_no_read_write_many_volume() -> None:
    """Each job's spool is a ReadWriteOnce volume of its own, which only pods on one node may
    share: the workers of a run must be held to one node, and no two jobs may share a claim."""
    claims = {
        d["metadata"]["name"]: d for d in kubernetes_docs() if d["kind"] == "PersistentVolumeClaim"
    }
    for claim in claims.values():
        assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    mounted: list[str] = []
    for cronjob in cronjobs().values():
        job = cronjob["spec"]["jobTemplate"]["spec"]
        pod = job["template"]["spec"]
        names = [
            v["persistentVolumeClaim"]["claimName"]
            for v in pod.get("volumes", [])
            if "persistentVolumeClaim" in v
        ]
        mounted += names
        if names and job.get("parallelism", 1) > 1:
            (term,) = pod["affinity"]["podAffinity"][
                "requiredDuringSchedulingIgnoredDuringExecution"
            ]
            assert term["topologyKey"] == "kubernetes.io/hostname"
            labels = job["template"]["metadata"]["labels"]
            selector = term["labelSelector"]["matchLabels"]
            assert selector.items() <= labels.items(), "the workers must match their own term"
            others = [
                c["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
                for c in cronjobs().values()
                if c["metadata"]["name"] != cronjob["metadata"]["name"]
            ]
            assert not any(selector.items() <= other.items() for other in others)
    assert sorted(mounted) == sorted(set(mounted)) and set(mounted) == set(claims)


def test_kubernetes_prunes_tombstones_daily() -> None:
    cronjob = cronjobs()["data prune"]
    minute, hour, *rest = cronjob["spec"]["schedule"].split()
    assert minute.isdigit() and hour.isdigit() and rest == ["*", "*", "*"]
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    job = cronjob["spec"]["jobTemplate"]["spec"]
    (container,) = job["template"]["spec"]["containers"]
    args = container["args"]
    assert args[:2] == ["data", "prune"] and "--dry-run" not in args
    assert parse_duration(args[args.index("--deleted-before") + 1]) >= 7 * 86400
    assert job["activeDeadlineSeconds"] and container["envFrom"][0]["secretRef"]["name"]
