"""The JSON Schemas (draft 2020-12) of every document tokensync prints, shipped with the package.

Each file's `$id` is `https://tokensync.invalid/schemas/<file>`: an identifier, not a location
(the `.invalid` domain never resolves), under which the files refer to `common.json`. Load them
all into your validator's registry, e.g. with the `jsonschema` and `referencing` packages:

    from referencing import Registry, Resource
    registry = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in map(load, names())
    )
    Draft202012Validator(load("refresh-tokens.json"), registry=registry).validate(document)
"""

from __future__ import annotations

import json
from importlib.resources import files

BASE_URI = "https://tokensync.invalid/schemas/"


def names() -> list[str]:
    """The schema files, by name (`refresh-tokens.json`, ...), sorted."""
    return sorted(f.name for f in files(__package__).iterdir() if f.name.endswith(".json"))


def load(name: str) -> dict[str, object]:
    """One schema, parsed."""
    loaded: dict[str, object] = json.loads(files(__package__).joinpath(name).read_text("utf-8"))
    return loaded
