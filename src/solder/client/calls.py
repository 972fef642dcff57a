"""Each endpoint described once, as data; the sync and async clients both run the same data.

A method of the API is written once, as a function that returns a :class:`Call` (method,
path, query, body, the model of the answer). :class:`endpoint` turns that function into a
method of both clients: on :class:`~solder.client.Solder` it returns the model, on
:class:`~solder.client.AsyncSolder` a coroutine of it. A call made of several requests (a
headless install) is a generator that yields calls and receives their results; a list the
server pages is a :class:`Paged`, turned into an iterator (sync) or async iterator (async)
over every item by :class:`pages`. So no method is written twice, and mypy sees the right
type on each client.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import (
    AsyncIterator,
    Callable,
    Coroutine,
    Generator,
    Hashable,
    Iterator,
    Mapping,
)
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, cast, overload
from urllib.parse import quote

from pydantic import TypeAdapter

if TYPE_CHECKING:
    from solder.client.clients import AsyncSolder, Solder

T = TypeVar("T")
P = ParamSpec("P")


@functools.cache
def _adapter(tp: Any) -> TypeAdapter[Any]:
    return TypeAdapter(tp)


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and how to read its answer.

    ``envelope`` names the key (or keys) the result sits under (``data``). The request may be
    sent again after no answer or a 5xx/429 when it is a read or carries an
    ``Idempotency-Key`` (the server drops the repeat, so a retry never doubles an event).
    ``passthrough`` takes the provider's status as the answer rather than as an error.
    """

    method: str
    path: str
    returns: type[T]
    params: Mapping[str, Any] | None = None
    json: Any = None
    envelope: str | tuple[str, ...] | None = None
    idempotency_key: str | None = None
    passthrough: bool = False

    @property
    def retryable(self) -> bool:
        return self.method == "GET" or self.idempotency_key is not None

    def query(self) -> dict[str, Any] | None:
        """The query without unset values (``None``), booleans as the server reads them."""
        if not self.params:
            return None
        return {
            k: (str(v).lower() if isinstance(v, bool) else v)
            for k, v in self.params.items()
            if v is not None
        }

    def decode(self, body: Any) -> T:
        keys = (self.envelope,) if isinstance(self.envelope, str) else self.envelope or ()
        value = body
        for key in keys:
            value = value[key]
        result: T = _adapter(cast(Hashable, self.returns)).validate_python(value)
        return result


Script = Generator["Call[Any]", Any, T]
"""Several requests in a row: yields each call, receives its result, returns the outcome."""


@dataclass(frozen=True)
class Paged(Generic[T]):
    """A list the server pages: ``page(n)`` is the call for page ``n`` (1-based) of ``size``."""

    page: Callable[[int], Call[Any]]
    size: int

    def items(self, page: Any) -> list[T]:
        items: list[T] = page.data
        return items

    def has_next(self, page: Any, number: int) -> bool:
        if page.total_pages is not None:
            return bool(number < page.total_pages)
        return len(page.data) >= self.size


def path(template: str, **parts: str) -> str:
    """``template`` with each ``{name}`` filled and escaped, so an id cannot change the path."""
    return template.format(**{k: quote(str(v), safe="") for k, v in parts.items()})


class endpoint(Generic[P, T]):
    """A method of both clients, built from a function returning a :class:`Call` or a
    :data:`Script`."""

    def __init__(self, build: Callable[P, Call[T] | Script[T]]) -> None:
        self.build = build
        self.__doc__ = build.__doc__
        self.__name__ = build.__name__

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> endpoint[P, T]: ...
    @overload
    def __get__(self, obj: Solder, owner: type[Any]) -> Callable[P, T]: ...
    @overload
    def __get__(
        self, obj: AsyncSolder, owner: type[Any]
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...
    def __get__(self, obj: Any, owner: type[Any]) -> Any:
        if obj is None:
            return self
        build = self.build

        @functools.wraps(build)
        def bound(*args: Any, **kwargs: Any) -> Any:
            return obj._run(build(*args, **kwargs))

        return bound


class pages(Generic[P, T]):
    """A method of both clients iterating over every item of a paged list."""

    def __init__(self, build: Callable[P, Paged[T]]) -> None:
        self.build = build
        self.__doc__ = build.__doc__
        self.__name__ = build.__name__

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> pages[P, T]: ...
    @overload
    def __get__(self, obj: Solder, owner: type[Any]) -> Callable[P, Iterator[T]]: ...
    @overload
    def __get__(self, obj: AsyncSolder, owner: type[Any]) -> Callable[P, AsyncIterator[T]]: ...
    def __get__(self, obj: Any, owner: type[Any]) -> Any:
        if obj is None:
            return self
        build = self.build

        @functools.wraps(build)
        def bound(*args: Any, **kwargs: Any) -> Any:
            return obj._iterate(build(*args, **kwargs))

        return bound
