"""What `tokensync doctor` prints: every check, and counts by status."""

from __future__ import annotations

from tokensync.doctor.report import Diagnosis
from tokensync.output.stdout import Document


def doctor_document(diagnosis: Diagnosis) -> Document:
    """success (no check failed), counts, and each check: name, status, found, fix, platform."""
    return {
        "success": diagnosis.success,
        "counts": {s: diagnosis.count(s) for s in ("ok", "warn", "fail", "skip")},
        "checks": [
            {
                "name": c.name,
                "status": c.status,
                "found": c.found,
                "fix": c.fix,
                "platform": c.platform,
            }
            for c in diagnosis.checks
        ],
    }
