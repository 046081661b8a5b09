"""Fixtures of the CLI tier only; those every tier shares are in tests/conftest.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import respx


@pytest.fixture
def mock_http() -> Iterator[respx.MockRouter]:
    """Strict respx at httpx's client level, so it catches every transport (aiohttp's too)."""
    with respx.mock(using="httpx", assert_all_called=True, assert_all_mocked=True) as router:
        yield router
