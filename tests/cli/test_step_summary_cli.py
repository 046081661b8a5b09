"""The GitHub step summary of a real run, in process: with `--results none` (what the scheduled
workflow publishes) no user id and no provider's own words. Its rendering is
tests/unit/test_step_summary.py."""

from __future__ import annotations

from pathlib import Path

import httpx
import respx

from tests.support.support import TOKEN_URLS, Cli, seed


def test_results_none_publishes_counts_only(
    cli: Cli, mock_http: respx.MockRouter, tmp_path: Path
) -> None:
    """What the scheduled workflow publishes by default (`--results none`): no user id and no
    provider's own words, in the document or the step summary, whatever failed."""
    seed(cli, ("secret-user-1", "discord"), ("secret-user-2", "spotify"))
    mock_http.post(TOKEN_URLS["discord"]).mock(
        return_value=httpx.Response(
            400, json={"error": "invalid_grant", "error_description": "Provider-Said-This"}
        )
    )
    mock_http.post(TOKEN_URLS["spotify"]).mock(
        return_value=httpx.Response(
            400, json={"error": "invalid_client", "error_description": "Provider-Said-That"}
        )
    )
    summary = tmp_path / "summary.md"
    result = cli(
        "refresh-tokens",
        "--results",
        "none",
        extra_env={"GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert result.code == 1 and result.json["tokensFailed"] == 2
    published = result.out + summary.read_text()
    for private in ("secret-user", "Provider-Said"):
        assert private not in published
    # Asked for, the failures are there.
    seed(cli, ("secret-user-1", "discord"))
    mock_http.post(TOKEN_URLS["discord"]).mock(
        return_value=httpx.Response(
            400, json={"error": "invalid_grant", "error_description": "Provider-Said-This"}
        )
    )
    asked = cli("refresh-tokens", "--results", "failures", "--platform", "discord")
    assert "secret-user-1" in asked.out and "Provider-Said-This" in asked.out
