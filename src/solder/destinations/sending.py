"""Running a destination block: find the destination and its connection, check, send."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from pydantic import SecretStr

from solder.destinations import DESTINATIONS
from solder.destinations.base import INSTALLATION, Destination, DestinationCall
from solder.errors import FatalError


def find(key: str) -> Destination:
    try:
        return DESTINATIONS[key]
    except KeyError:
        known = ", ".join(sorted(DESTINATIONS)) or "none"
        raise FatalError(
            f"destination: unknown destination {key!r} (known: {known})", field="destination"
        ) from None


def input_problems(destination: Destination, inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(field, message)`` for each input that does not fit the destination's schema."""
    schema = destination.input
    problems = []
    for name in schema.get("required", []):
        if name not in inputs:
            problems.append((name, "required"))
    props = schema.get("properties", {})
    for name, value in inputs.items():
        if name in ("connection", "credential"):
            continue
        if name not in props:
            if schema.get("additionalProperties") is False:
                problems.append((name, f"{destination.key} takes no input {name!r}"))
            continue
        error = best_match(Draft202012Validator(props[name]).iter_errors(value))
        if error is not None:
            problems.append((name, error.message))
    return problems


def connection_url(
    destination: Destination, name: object, connections: Mapping[str, SecretStr]
) -> str:
    if not isinstance(name, str) or name not in connections:
        known = ", ".join(sorted(connections)) or "none configured"
        raise FatalError(
            f"inputs.connection: {name!r} is not a configured destination connection ({known})",
            field="connection",
        )
    url = connections[name].get_secret_value()
    scheme = urlsplit(url).scheme
    if scheme not in destination.schemes:
        raise FatalError(
            f"inputs.connection: {name!r} is a {scheme or 'scheme-less'} connection; "
            f"{destination.key} needs {' or '.join(destination.schemes)}",
            field="connection",
        )
    return url


def credential_problems(destination: Destination, inputs: Mapping[str, Any]) -> list[str]:
    """What is wrong with ``credential`` (and ``connection`` beside it), as ``inputs.<name>:``
    messages; ``credential`` must be literal, since the install modal reads it."""
    if "credential" not in inputs:
        return []
    if destination.app is None:
        return [
            f"inputs.credential: {destination.key} writes only with a server connection "
            "(inputs.connection)"
        ]
    which = inputs["credential"]
    if which not in ("connection", INSTALLATION):
        return [f"inputs.credential: {which!r} is not connection or installation"]
    if which != INSTALLATION:
        return []
    if "connection" in inputs:
        return ["inputs.connection: give a connection or credential: installation, not both"]
    return []


def send(
    destination_key: str,
    inputs: dict[str, Any],
    connections: Mapping[str, SecretStr],
    *,
    run_id: str,
    step_id: str,
    workflow_id: str,
    user_id: str,
    credential: Callable[[str], dict[str, Any]] | None = None,
    endpoints: Mapping[str, str] | None = None,
) -> Any:
    """``credential(app)``: the installation's credential for ``app`` (``ReconnectNeeded``
    when it has none); ``endpoints``: the server's app base URL overrides."""
    destination = find(destination_key)
    wrong = credential_problems(destination, inputs)
    if wrong:
        field = wrong[0].split(":", 1)[0].removeprefix("inputs.")
        raise FatalError(wrong[0], field=field)
    own = {k: v for k, v in inputs.items() if k not in ("connection", "credential")}
    problems = input_problems(destination, own)
    if problems:
        field, message = problems[0]
        raise FatalError(f"inputs.{field}: {message}", field=field)
    data: dict[str, Any] | None = None
    endpoint = None
    if inputs.get("credential") == INSTALLATION and destination.app is not None:
        if credential is None:  # pragma: no cover - the engine always passes it
            raise FatalError("inputs.credential: no installation here", field="credential")
        data = credential(destination.app)
        endpoint = (endpoints or {}).get(destination.app)
        url, name = "", f"the installation's {destination.app} credential"
    else:
        url = connection_url(destination, inputs.get("connection"), connections)
        name = str(inputs["connection"])
    return destination.send(
        DestinationCall(
            connection=url,
            connection_name=name,
            credential=data,
            endpoint=endpoint,
            inputs=own,
            idempotency_key=f"{run_id}:{step_id}",
            run_id=run_id,
            step_id=step_id,
            workflow_id=workflow_id,
            user_id=user_id,
        )
    )
