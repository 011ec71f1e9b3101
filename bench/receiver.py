"""The partner's webhook endpoint: a minimal ASGI app under uvicorn (uvloop, httptools) in a
thread of the bench process, so its cost on these shared cores stays small; in production
it runs on the partner's machines."""

from __future__ import annotations

from typing import Any

from api.serve import ServerThread


class Receiver:
    """Answers every POST 200 and counts it; keeps the bodies when asked (`keep_bodies`)."""

    def __init__(self, *, keep_bodies: bool = False) -> None:
        self.count = 0
        self.signed = 0
        self.keep_bodies = keep_bodies
        self.bodies: list[bytes] = []

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            # A plain function: uvicorn reads a bound method as an ASGI2 app.
            await self._app(scope, receive, send)

        self.server = ServerThread(app).start()

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].rsplit(".", 1)[-1]
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return
        if scope["type"] != "http":
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        self.count += 1
        if any(name == b"webhook-signature" for name, _ in scope["headers"]):
            self.signed += 1
        if self.keep_bodies:
            self.bodies.append(b"".join(chunks))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    @property
    def url(self) -> str:
        return self.server.url + "/hooks"

    def stop(self) -> None:
        self.server.stop()
