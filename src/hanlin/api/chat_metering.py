"""The platform's bookkeeping around ``POST /v1/chat/completions``, as a plain ASGI middleware.

The chat service meters what it serves; around it, :meth:`Platform.chat_request` opens the box the quota hook puts
its budget hold in and, when the request is refused (404 app, 403 scope, 400…), drops that hold and records the
refusal. It must span the whole response: a stream's usage sink settles the hold when the stream ends, in the task
that sends the body. This was a FastAPI generator dependency with request scope; resolving it (an exit stack, a
shielded cancel scope, the generator's dependencies) was a measurable share of a gateway node's CPU per request
(py-spy: dependency resolution was ~38% of the request task). Here it costs a path comparison, a context variable
and a wrapped ``send``.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hanlin.api.deps import http_status
from hanlin.platform.service import Platform
from hanlin.principal import Principal

CHAT_PATH = "/v1/chat/completions"
ROUTE = CHAT_PATH.removeprefix("/v1/")  # as usage rows name routes


class ChatMeteringMiddleware:
    def __init__(self, app: ASGIApp, platform: Platform) -> None:
        self.app, self.platform = app, platform

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != CHAT_PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return

        def caller() -> Principal | None:  # set by the route's auth dependency (``get_principal``)
            principal = (scope.get("state") or {}).get("principal")
            return principal if isinstance(principal, Principal) else None

        async with self.platform.chat_request(caller, ROUTE) as set_status:
            started = False

            async def watch(message: Message) -> None:
                nonlocal started
                if message["type"] == "http.response.start":
                    started = True
                    set_status(int(message["status"]))
                await send(message)

            try:
                await self.app(scope, receive, watch)
            except BaseException as e:  # not turned into a response by the app's handlers (a 500)
                if not started:
                    set_status(http_status(e))
                raise
