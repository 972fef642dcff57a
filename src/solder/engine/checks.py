"""Checks of a definition against this server: apps, actions, events, mappings.

Pydantic checks the shape; these check meaning, and report every problem at once.
"""

from __future__ import annotations

from collections.abc import Mapping

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from solder.apps.base import App
from solder.destinations import sending
from solder.engine import code, formatters, mapping, schedule
from solder.engine.definitions import (
    AnyBlock,
    AppActionBlock,
    AppEventTrigger,
    BranchBlock,
    CodeBlock,
    DestinationBlock,
    FormatterBlock,
    IntegrationFile,
    ScheduleTrigger,
    WorkflowDef,
)
from solder.engine.kinds import KINDS
from solder.errors import BadInput, StepError


def check_integration(file: IntegrationFile, apps: Mapping[str, App]) -> list[str]:
    problems: list[str] = []
    if file.integration.app not in apps:
        problems.append(f"integration.app: unknown app {file.integration.app!r}")
    for i, wf in enumerate(file.workflows):
        problems += check_workflow(wf, apps, f"workflows[{i}]")
    return problems


def check_workflow(wf: WorkflowDef, apps: Mapping[str, App], where: str) -> list[str]:
    problems: list[str] = []
    for path, block in wf.walk():
        at = f"{where}.{path}"
        problems += mapping.validate(block.inputs, f"{at}.inputs")
        problems += _check_inputs(block, at)
        field_names = {f.name for f in block.fields}
        if isinstance(block, AppEventTrigger | AppActionBlock):
            problems += _check_app(block, apps, at, field_names)
        elif isinstance(block, ScheduleTrigger):
            problems += _check_schedule(block, at)
        elif isinstance(block, FormatterBlock):
            try:
                formatters.check_operation(block.operation)
            except BadInput as exc:
                problems.append(f"{at}.operation: {exc.message}")
        elif isinstance(block, DestinationBlock):
            problems += _check_destination(block, at, field_names)
        elif isinstance(block, CodeBlock):
            try:
                code.check_source(block.code)
            except BadInput as exc:
                problems.append(f"{at}.code: {exc.message.removeprefix('code: ')}")
        elif isinstance(block, BranchBlock):
            for i, branch in enumerate(block.paths):
                problems += mapping.validate(branch.condition, f"{at}.paths[{i}].condition")
    return problems


def _check_inputs(block: AnyBlock, at: str) -> list[str]:
    """Required inputs are given (as inputs or user fields); literal ones have the right shape."""
    kind = KINDS.get(block.type)
    if kind is None or not kind.input.get("properties"):
        return []
    problems = []
    given = set(block.inputs) | {f.name for f in block.fields}
    for name in kind.input.get("required", []):
        if name not in given:
            problems.append(f"{at}.inputs.{name}: required (as an input or a user field)")
    for name, value in block.inputs.items():
        schema = kind.input["properties"].get(name)
        if schema is None or _has_mapping(value):
            continue
        error = best_match(Draft202012Validator(schema).iter_errors(value))
        if error is not None:
            problems.append(f"{at}.inputs.{name}: {error.message}")
    return problems


def _check_destination(block: DestinationBlock, at: str, fields: set[str]) -> list[str]:
    """The destination exists; its required inputs are given; literal ones fit its schema."""
    try:
        destination = sending.find(block.destination)
    except StepError as exc:
        return [f"{at}.{exc.message}"]
    literal = {k: v for k, v in block.inputs.items() if not _has_mapping(v)}
    given = set(block.inputs) | fields
    problems = []
    if "credential" in fields or _has_mapping(block.inputs.get("credential")):
        problems.append(f"{at}.inputs.credential: must be written in the workflow (the install "
                        "modal reads it), not mapped or asked of the user")  # fmt: skip
    else:
        problems += [f"{at}.{p}" for p in sending.credential_problems(destination, block.inputs)]
    installation = block.inputs.get("credential") == "installation"
    if "connection" not in given and not installation:
        problems.append(f"{at}.inputs.connection: required (as an input or a user field)")
    for name, message in sending.input_problems(destination, literal):
        if message == "required" and name in given:
            continue
        if message == "required":
            message = "required (as an input or a user field)"
        problems.append(f"{at}.inputs.{name}: {message}")
    return problems


def _has_mapping(value: object) -> bool:
    if isinstance(value, str):
        return "{{" in value
    if isinstance(value, dict):
        return any(_has_mapping(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_mapping(v) for v in value)
    return False


def _check_app(
    block: AppEventTrigger | AppActionBlock, apps: Mapping[str, App], at: str, fields: set[str]
) -> list[str]:
    app = apps.get(block.app)
    if app is None:
        return [f"{at}.app: unknown app {block.app!r}"]
    if isinstance(block, AppEventTrigger):
        if block.event not in app.triggers:
            return [f"{at}.event: {app.name} has no event {block.event!r}"]
        return []
    action = app.actions.get(block.action)
    if action is None:
        return [f"{at}.action: {app.name} has no action {block.action!r}"]
    problems = []
    for name, info in action.input_model.model_fields.items():
        names = {name, info.alias} - {None}
        given = names & (set(block.inputs) | fields)
        if info.is_required() and not given:
            problems.append(f"{at}.inputs.{info.alias or name}: required")
    return problems


def _check_schedule(block: ScheduleTrigger, at: str) -> list[str]:
    problems = []
    try:
        schedule.parse(block.cron, block.timezone)
    except BadInput as exc:
        problems.append(f"{at}.{exc.field}: {exc.message}")
    return problems
