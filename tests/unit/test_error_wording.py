"""The engine says what to do in its own terms; only the API names routes."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from api.errors import suggestion_of
from engine import errors

ENGINE = Path(__file__).resolve().parents[2] / "engine"
ROUTE = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE) /|/api/")


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings (they may describe routes)."""
    found = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                found.add(id(value))
    return found


def test_no_engine_string_names_an_http_route() -> None:
    # Given every string the engine's code holds, docstrings aside
    found = []
    for path in sorted(ENGINE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docs
                and ROUTE.search(node.value)
            ):
                found.append(f"{path.relative_to(ENGINE)}:{node.lineno}: {node.value!r}")
    # Then none names a method and path: that is the API's to say
    assert found == []


def test_the_api_shows_the_route_after_the_engines_suggestion() -> None:
    # Given errors whose suggestion one route carries out, and one that has none
    limit = errors.EndpointLimitReached(20)
    scope = errors.MissingScope("orders.read")
    stale = errors.StaleState("order", "o1")
    # When the API words their suggestions
    # Then the route follows the engine's sentence, and the others pass unchanged
    assert suggestion_of(limit) == (
        "Deactivate an endpoint you no longer use before adding another (DELETE /webhooks/{id})."
    )
    assert suggestion_of(scope) == (
        "Use a key with the 'orders.read' scope, or create one with a key that has the "
        "keys.manage scope (POST /keys)."
    )
    assert suggestion_of(stale) == stale.suggestion
