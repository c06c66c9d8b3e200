"""Request bodies are bounded before anything reads them, and an API request without a token
is refused before its body is read (issue 16: a 200 MB body with no token was parsed first).

Pure ASGI, so nothing is buffered: a declared ``Content-Length`` over the limit is answered
413 at once; a body sent without one (chunked) is counted as it arrives and refused with 413
when it passes the limit."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import HTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# API paths that take requests without a token: the URL itself is the credential.
PUBLIC_API_PREFIXES = ("/api/v1/esign/callback/",)
_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_body: int, max_upload: int) -> None:
        self.app, self.max_body, self.max_upload = app, max_body, max_upload

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v for k, v in scope["headers"]}
        path: str = scope["path"]
        if (
            path.startswith("/api/")
            and "authorization" not in headers
            and not path.startswith(PUBLIC_API_PREFIXES)
        ):
            await _answer(
                send,
                401,
                "unauthenticated",
                "send an API token as 'Authorization: Bearer <token>'",
                [(b"www-authenticate", b"Bearer")],
            )
            return
        content_type = headers.get("content-type", b"").decode("latin-1").lower()
        limit = self.max_upload if content_type.startswith("multipart/") else self.max_body
        declared = headers.get("content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                await _answer(send, 400, "http_error", "Content-Length is not a number")
                return
            if too_big:
                await _answer(send, 413, "too_large", _too_large(limit))
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise HTTPException(status_code=413, detail=_too_large(limit))
            return message

        await self.app(scope, counted, send)


def _too_large(limit: int) -> str:
    return f"the request body is larger than this server takes ({limit:,} bytes)"


async def _answer(
    send: Send,
    status: int,
    code: str,
    message: str,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    body = json.dumps({"code": code, "message": message, "field": None}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                *(extra or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
