"""The caller behind a request, and the scope an endpoint needs."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Request

from api.deps import inkwell
from engine.bootstrap import Inkwell
from engine.services import keys


def principal(request: Request, app: Inkwell = Depends(inkwell)) -> keys.Principal:
    found = keys.authenticate(app, request.headers.get("authorization"))
    request.state.principal = found
    return found


def scoped(scope: str) -> Callable[..., keys.Principal]:
    """A dependency: the caller, who must hold `scope` (else 403 forbidden)."""

    def dependency(who: keys.Principal = Depends(principal)) -> keys.Principal:
        keys.require(who, scope)
        return who

    dependency.__name__ = f"scope_{scope.replace('.', '_')}"
    return dependency
