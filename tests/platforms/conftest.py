"""A strict respx router for every test of the platform adapters."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import respx


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    """Every request must be mocked, every route must be used."""
    with respx.mock(assert_all_called=True, assert_all_mocked=True) as mock:
        yield mock
