"""Checks of a definition against this server: apps, actions, events, mappings.

Pydantic checks the shape; these check meaning, and report every problem at once.
"""

from __future__ import annotations

from collections.abc import Mapping

from solder.apps.base import App
from solder.engine import mapping
from solder.engine.definitions import (
    AppActionBlock,
    AppEventTrigger,
    IntegrationFile,
    StreamDataBlock,
    WorkflowDef,
)


def check_integration(file: IntegrationFile, apps: Mapping[str, App]) -> list[str]:
    problems: list[str] = []
    if file.integration.app not in apps:
        problems.append(f"integration.app: unknown app {file.integration.app!r}")
    for i, wf in enumerate(file.workflows):
        problems += check_workflow(wf, apps, f"workflows[{i}]")
    return problems


def check_workflow(wf: WorkflowDef, apps: Mapping[str, App], where: str) -> list[str]:
    problems: list[str] = []
    for j, block in enumerate(wf.all_blocks()):
        at = f"{where}.trigger" if j == 0 else f"{where}.blocks[{j - 1}]"
        problems += mapping.validate(block.inputs, f"{at}.inputs")
        field_names = {f.name for f in block.fields}
        if isinstance(block, AppEventTrigger | AppActionBlock):
            app = apps.get(block.app)
            if app is None:
                problems.append(f"{at}.app: unknown app {block.app!r}")
                continue
            if isinstance(block, AppEventTrigger) and block.event not in app.triggers:
                problems.append(f"{at}.event: {app.name} has no event {block.event!r}")
            if isinstance(block, AppActionBlock):
                action = app.actions.get(block.action)
                if action is None:
                    problems.append(f"{at}.action: {app.name} has no action {block.action!r}")
                    continue
                for name, info in action.input_model.model_fields.items():
                    names = {name, info.alias} - {None}
                    given = names & (set(block.inputs) | field_names)
                    if info.is_required() and not given:
                        problems.append(f"{at}.inputs.{info.alias or name}: required")
        if isinstance(block, StreamDataBlock) and not ({"url"} & (set(block.inputs) | field_names)):
            problems.append(f"{at}.inputs.url: required (as an input or a user field)")
    return problems
