"""Ask keep-alive clients to reconnect now and then, so several processes share them.

With `genlab serve --workers N`, the processes take turns accepting connections on one
port, and a keep-alive connection then stays with whichever accepted it. A burst of
new connections (twenty browser tabs, a load tool) can land mostly on one process
while another sits idle. After `limit` responses on a connection this middleware adds
`Connection: close`, as nginx's `keepalive_requests` does: the client reconnects, and
the process with time to spare is the one that accepts it.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from genlab.web.security import ASGIApp, Message, Receive, Scope, Send

TRACKED = 4096  # connections remembered; the oldest are forgotten (they only reset)


class RecycleConnections:
    def __init__(self, app: ASGIApp, limit: int = 100):
        self.app = app
        self.limit = limit
        self._served: OrderedDict[Any, int] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] != "http" or not client:
            await self.app(scope, receive, send)
            return
        key = tuple(client)  # one connection: the client's address and port
        served = self._served.pop(key, 0) + 1
        if served < self.limit:
            self._served[key] = served
            if len(self._served) > TRACKED:
                self._served.popitem(last=False)
            await self.app(scope, receive, send)
            return

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, closing)
