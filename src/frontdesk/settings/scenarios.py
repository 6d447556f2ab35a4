"""Scenario steps and branch rules (docs/scenarios.md). A step is a table with exactly one action
key; the action picks the step's model, whose other keys are that action's settings.

The models check each step on its own; what a step names (labels, forms, queues, template names) is
checked against the tenant in ``references.py``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Discriminator, Field, Tag, model_validator

from frontdesk.settings.errors import STEP_TAG, field_error, type_name
from frontdesk.settings.fields import Between, Model, NonEmpty, Number, Scalar, Skills, TextOrNumber
from frontdesk.settings.vocabulary import (
    BRANCH_CONDITIONS,
    EWT_ABOVE_SECS,
    FORM_TIMEOUT_SECS,
    QUEUE_PRIORITIES,
    STEP_SETTINGS,
)

FormTimeout = Annotated[int, Between(*FORM_TIMEOUT_SECS)]


class BranchRule(Model):
    """``{ field = "…", <one condition>, goto = "label" }``."""

    field: str
    equals: Scalar = None
    not_equals: Scalar = None
    in_: list[TextOrNumber] | None = Field(default=None, alias="in")
    above: Number = None
    below: Number = None
    present: bool | None = None
    goto: str

    @model_validator(mode="before")
    @classmethod
    def _one_condition(cls, data: Any) -> Any:
        if isinstance(data, dict) and sum(key in data for key in BRANCH_CONDITIONS) != 1:
            raise field_error(f"a rule needs exactly one of {', '.join(BRANCH_CONDITIONS)}")
        return data


class _Step(Model):
    id: Annotated[NonEmpty, Field(description="a label other steps jump to; unique in the scenario")] = ""


class SayStep(_Step):
    say: str


class FormStep(_Step):
    form: str
    timeout_secs: Annotated[FormTimeout, Field(description="default 300")] = 300
    on_timeout: str = ""


class BranchStep(_Step):
    branch: Annotated[list[BranchRule], Field(min_length=1)]
    otherwise: str = ""

    @model_validator(mode="before")
    @classmethod
    def _some_rule(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("branch") == []:
            raise field_error("needs at least one rule", ["branch"])
        return data


class SetCaseStep(_Step):
    set_case: str


class RouteStep(_Step):
    route: str
    priority: Annotated[int, Between(*QUEUE_PRIORITIES)] = 0
    skills: Skills = Field(default_factory=dict)
    if_no_agents: str = ""
    if_closed: str = ""
    on_ewt_above: str = ""
    ewt_above_secs: Annotated[int, Between(*EWT_ABOVE_SECS)] = 0

    @model_validator(mode="after")
    def _ewt_pair(self) -> RouteStep:
        given = self.model_fields_set
        if "on_ewt_above" in given and "ewt_above_secs" not in given:
            raise field_error("required with on_ewt_above", ["ewt_above_secs"])
        if "ewt_above_secs" in given and "on_ewt_above" not in given:
            raise field_error("only with on_ewt_above", ["ewt_above_secs"])
        return self


class LeaveMessageStep(_Step):
    leave_message: str
    timeout_secs: Annotated[FormTimeout, Field(description="default 600")] = 600
    say_after: str = "Thanks, we will get back to you."


class FailStep(_Step):
    fail: str


class EndStep(_Step):
    end: str


class GotoStep(_Step):
    goto: str


STEP_MODELS: dict[str, type[_Step]] = {
    "say": SayStep, "form": FormStep, "branch": BranchStep, "set_case": SetCaseStep, "route": RouteStep,
    "leave_message": LeaveMessageStep, "fail": FailStep, "end": EndStep, "goto": GotoStep,
}


def _action_of(data: Any) -> str | None:
    if isinstance(data, dict):
        return next((action + STEP_TAG for action in STEP_SETTINGS if action in data), None)
    return next((action + STEP_TAG for action, model in STEP_MODELS.items() if isinstance(data, model)), None)


def _one_action(data: Any) -> Any:
    if isinstance(data, _Step):
        return data
    if not isinstance(data, dict):
        raise field_error(f"expected a table, got {type_name(data)}")
    actions = [key for key in data if key in STEP_SETTINGS]
    if len(actions) != 1:
        found = f"got {' and '.join(actions)}" if actions else "got none"
        raise field_error(f"a step needs exactly one action of {', '.join(STEP_SETTINGS)}; {found}")
    return data


AnyStep = (SayStep | FormStep | BranchStep | SetCaseStep | RouteStep | LeaveMessageStep | FailStep | EndStep
           | GotoStep)
StepModel = Annotated[
    Annotated[
        Annotated[SayStep, Tag("say" + STEP_TAG)] | Annotated[FormStep, Tag("form" + STEP_TAG)]
        | Annotated[BranchStep, Tag("branch" + STEP_TAG)] | Annotated[SetCaseStep, Tag("set_case" + STEP_TAG)]
        | Annotated[RouteStep, Tag("route" + STEP_TAG)]
        | Annotated[LeaveMessageStep, Tag("leave_message" + STEP_TAG)]
        | Annotated[FailStep, Tag("fail" + STEP_TAG)] | Annotated[EndStep, Tag("end" + STEP_TAG)]
        | Annotated[GotoStep, Tag("goto" + STEP_TAG)],
        Discriminator(_action_of)],
    BeforeValidator(_one_action)]


def action_of(step: AnyStep) -> str:
    return next(action for action, model in STEP_MODELS.items() if isinstance(step, model))


def step_args(step: AnyStep) -> dict[str, Any]:
    """The step's settings as written (defaults are the engine's), without its id."""
    return step.model_dump(by_alias=True, exclude_unset=True, exclude={"id"})


class ScenarioModel(Model):
    name: NonEmpty
    steps: list[StepModel] = Field(default_factory=list)
