"""Fixtures for the e2e tests: ``tools``, the programs `sysphase patch` needs (patchelf, gcc)."""

from __future__ import annotations

import pytest

from tests.e2e.patch_helpers import need


@pytest.fixture(scope="module")
def tools() -> None:
    need("patchelf", "patchelf")
    need("gcc", "gcc")
