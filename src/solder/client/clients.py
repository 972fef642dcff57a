"""The two clients: :class:`Solder` (blocking) and :class:`AsyncSolder` (asyncio/anyio).

Both get every API method from the same descriptions (``solder.client.calls``) and differ
only in how a request is sent and how a retry waits. What is shared, and decided here once:

- the headers: ``Authorization: Bearer <API key>`` on a server client, ``x-alloy-user-token``
  on the client :meth:`as_user` returns (the end-user calls the frontend makes);
- the version: a path prefix (``/2023-12`` by default; ``version=None`` sends paths as given,
  for a ``base_url`` that already ends in a version), or with ``version_in="header"`` the
  newest style, no prefix and an ``x-api-version`` header;
- the retries: a call that may be repeated (a read, or one carrying an ``Idempotency-Key``)
  is sent again after no answer, a 5xx or a 429, up to ``max_retries`` times, waiting
  ``backoff * 2**n`` seconds or the server's ``Retry-After``; the request is the same, key
  included. Any other call is sent once;
- the answer: a refusal becomes the exception of ``solder.client.errors``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

import httpx2

from solder.client.calls import Call, Paged, Script
from solder.client.catalog import Catalog
from solder.client.errors import ConnectionFailed, error_for, retry_after
from solder.client.installs import Installs
from solder.client.manage import Manage
from solder.client.running import Running
from solder.client.users import Users

T = TypeVar("T")

DEFAULT_VERSION = "2023-12"
VersionIn = Literal["path", "header"]
MAX_RETRY_WAIT = 30.0


class _Core(Users, Catalog, Installs, Running, Manage):
    """What both clients share: settings, request building, answer reading, retry policy."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        user_token: str | None,
        version: str | None,
        version_in: VersionIn,
        max_retries: int,
        backoff: float,
    ) -> None:
        self.base_url = base_url
        self.version = version
        self.version_in = version_in
        self.max_retries = max_retries
        self.backoff = backoff
        self._api_key = api_key
        self._user_token = user_token
        self._owns_http = True

    def _headers(self, call: Call[Any]) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self._user_token is not None:
            headers["x-alloy-user-token"] = self._user_token
        elif self._api_key is not None:
            headers["Authorization"] = f"Bearer {self._api_key}"
        if self.version and self.version_in == "header":
            headers["x-api-version"] = self.version
        if call.idempotency_key is not None:
            headers["Idempotency-Key"] = call.idempotency_key
        return headers

    def _request(self, call: Call[Any]) -> dict[str, Any]:
        prefix = self.version_in == "path" and self.version
        url = f"/{self.version}{call.path}" if prefix else call.path
        args: dict[str, Any] = {"method": call.method, "url": url, "headers": self._headers(call)}
        if call.query():
            args["params"] = call.query()
        if call.json is not None:
            args["json"] = call.json
        return args

    def _retry_wait(self, call: Call[Any], attempt: int, answer: httpx2.Response | None) -> float:
        """Seconds to wait before sending ``call`` again, or -1 to stop (answer or raise)."""
        if answer is not None and answer.status_code < 500 and answer.status_code != 429:
            return -1
        if not call.retryable or attempt >= self.max_retries:
            return -1
        wait = None if answer is None else retry_after(answer)
        return min(MAX_RETRY_WAIT, wait if wait is not None else self.backoff * 2**attempt)

    @staticmethod
    def _read(call: Call[T], answer: httpx2.Response) -> T:
        if call.passthrough and answer.status_code in (204, 304) and not answer.content:
            return call.decode({"statusCode": answer.status_code})
        if answer.status_code >= 400 and not call.passthrough:
            raise error_for(answer)
        try:
            body = answer.json() if answer.content else None
        except ValueError:  # not JSON: a proxy's page, say
            raise error_for(answer) from None
        if call.passthrough and isinstance(body, dict) and "statusCode" in body:
            return call.decode(body)  # the provider's answer, whatever its status
        if answer.status_code >= 400:
            raise error_for(answer)
        return call.decode(body)

    @staticmethod
    def _failed(call: Call[Any], exc: httpx2.TransportError) -> ConnectionFailed:
        return ConnectionFailed(
            f"{call.method} {call.path}: no answer ({type(exc).__name__}: {exc})"
        )

    def _as(self, token: str) -> Self:
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone._user_token = token
        clone._owns_http = False
        return clone


class Solder(_Core):
    """A blocking client. ``Solder(url, api_key)``; close it, or use it in ``with``."""

    def __init__(
        self,
        base_url: str = "",
        api_key: str | None = None,
        *,
        user_token: str | None = None,
        version: str | None = DEFAULT_VERSION,
        version_in: VersionIn = "path",
        timeout: float = 30.0,
        max_retries: int = 2,
        backoff: float = 0.25,
        http: httpx2.Client | None = None,
        transport: httpx2.BaseTransport | None = None,
    ) -> None:
        """``http``: send through this client (its base URL and transport; it stays open)."""
        super().__init__(
            base_url,
            api_key,
            user_token=user_token,
            version=version,
            version_in=version_in,
            max_retries=max_retries,
            backoff=backoff,
        )
        self._http = http or httpx2.Client(base_url=base_url, timeout=timeout, transport=transport)
        self._owns_http = http is None

    def as_user(self, token: str) -> Self:
        """The same client acting as an end user (a token from :meth:`user_token`), sharing
        this one's connections; closing it leaves them open."""
        return self._as(token)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _send(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            try:
                answer: httpx2.Response | None = self._http.request(**self._request(call))
            except httpx2.TransportError as exc:
                if self._retry_wait(call, attempt, None) < 0:
                    raise self._failed(call, exc) from exc
                answer = None
            wait = self._retry_wait(call, attempt, answer)
            if wait < 0 and answer is not None:
                return self._read(call, answer)
            time.sleep(wait)
            attempt += 1

    def _run(self, step: Call[T] | Script[Any]) -> Any:
        if isinstance(step, Call):
            return self._send(step)
        try:
            call = next(step)
            while True:
                call = step.send(self._send(call))
        except StopIteration as done:
            return done.value

    def _iterate(self, paged: Paged[T]) -> Iterator[T]:
        number = 1
        while True:
            page = self._send(paged.page(number))
            yield from paged.items(page)
            if not paged.has_next(page, number):
                return
            number += 1


class AsyncSolder(_Core):
    """The asyncio/anyio client: the same methods as :class:`Solder`, awaited."""

    def __init__(
        self,
        base_url: str = "",
        api_key: str | None = None,
        *,
        user_token: str | None = None,
        version: str | None = DEFAULT_VERSION,
        version_in: VersionIn = "path",
        timeout: float = 30.0,
        max_retries: int = 2,
        backoff: float = 0.25,
        http: httpx2.AsyncClient | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            base_url,
            api_key,
            user_token=user_token,
            version=version,
            version_in=version_in,
            max_retries=max_retries,
            backoff=backoff,
        )
        self._http = http or httpx2.AsyncClient(
            base_url=base_url, timeout=timeout, transport=transport
        )
        self._owns_http = http is None

    def as_user(self, token: str) -> Self:
        """The same client acting as an end user, sharing this one's connections."""
        return self._as(token)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _send(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            try:
                answer: httpx2.Response | None = await self._http.request(**self._request(call))
            except httpx2.TransportError as exc:
                if self._retry_wait(call, attempt, None) < 0:
                    raise self._failed(call, exc) from exc
                answer = None
            wait = self._retry_wait(call, attempt, answer)
            if wait < 0 and answer is not None:
                return self._read(call, answer)
            await asyncio.sleep(wait)
            attempt += 1

    async def _run(self, step: Call[T] | Script[Any]) -> Any:
        if isinstance(step, Call):
            return await self._send(step)
        try:
            call = next(step)
            while True:
                call = step.send(await self._send(call))
        except StopIteration as done:
            return done.value

    async def _iterate(self, paged: Paged[T]) -> AsyncIterator[T]:
        number = 1
        while True:
            page = await self._send(paged.page(number))
            for item in paged.items(page):
                yield item
            if not paged.has_next(page, number):
                return
            number += 1
