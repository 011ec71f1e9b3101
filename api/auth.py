"""The caller behind a request, and the scope an endpoint needs."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from api.deps import inkwell
from engine.bootstrap import Inkwell
from engine.services import principals


async def principal(request: Request, app: Inkwell = Depends(inkwell)) -> principals.Principal:
    """The caller; a recently seen key is answered from memory, on the event loop."""
    header = request.headers.get("authorization")
    found = principals.cached_principal(app, header)
    if found is None:
        found = await run_in_threadpool(principals.authenticate, app, header)
    request.state.principal = found
    return found


def scoped(scope: str) -> Callable[..., Coroutine[Any, Any, principals.Principal]]:
    """A dependency: the caller, who must hold `scope` (else 403 forbidden)."""

    async def dependency(who: principals.Principal = Depends(principal)) -> principals.Principal:
        principals.require(who, scope)
        return who

    dependency.__name__ = f"scope_{scope.replace('.', '_')}"
    return dependency
