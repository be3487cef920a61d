"""Fixtures of the clinician workspace's page tests."""

import pytest

from tests.factories import couple_with_partners


@pytest.fixture
def case(clinician):
    """``clinician``'s couple "Rivera & Chen": partner A Alex (Chicago), partner B Sam (New York)."""
    return couple_with_partners(clinician, label="Rivera & Chen", names=("Alex", "Sam"))
