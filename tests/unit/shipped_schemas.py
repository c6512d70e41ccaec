"""The JSON Schemas sysphase ships (``sysphase/schemas/*.schema.json``), loaded and checked."""

from __future__ import annotations

import functools
import json
from importlib import resources
from typing import Any

import pytest


def load_schema(name: str) -> dict[str, Any]:
    """The schema of format NAME ("profile", "policy") as plain data."""
    ref = resources.files("sysphase") / "schemas" / f"{name}.schema.json"
    data: dict[str, Any] = json.loads(ref.read_text())
    return data


@functools.cache
def schema_validator(name: str) -> Any:
    """A Draft 2020-12 validator of NAME's schema (itself checked); skips without jsonschema."""
    jsonschema = pytest.importorskip(
        "jsonschema", reason="jsonschema is not installed (pip install -e .[test] installs it)"
    )
    schema = load_schema(name)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)
