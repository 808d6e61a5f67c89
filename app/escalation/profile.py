"""The OPEL profile: parameters, their level conditions, weights and score bands (YAML)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from app.catalogue import is_metric, metric_paths
from app.errors import ConfigurationError

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}


class Condition(BaseModel):
    """``">15"``, ``">=92"``, ``"<78"``: true when the value is past the threshold."""

    model_config = ConfigDict(frozen=True)

    op: str
    threshold: float

    @classmethod
    def parse(cls, text: str) -> Condition:
        for symbol in _OPERATORS:  # two-character operators are tried first
            if text.strip().startswith(symbol):
                try:
                    return cls(op=symbol, threshold=float(text.strip()[len(symbol) :]))
                except ValueError as error:
                    raise ValueError(f"bad threshold in {text!r}") from error
        raise ValueError(f"a condition is one of > >= < <= and a number, not {text!r}")

    def holds(self, value: float) -> bool:
        return _OPERATORS[self.op](value, self.threshold)

    @property
    def rising(self) -> bool:
        return self.op.startswith(">")

    def __str__(self) -> str:
        return f"{self.op}{self.threshold:g}"


class Parameter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    label: str
    metric: str = Field(description="Dotted path into the site's flow metrics")
    levels_2_3_4: Annotated[list[Condition], Field(min_length=3, max_length=3)]
    weight: float = Field(gt=0)

    @field_validator("metric")
    @classmethod
    def _known(cls, value: str) -> str:
        """A typo must not silently drop the parameter from the score (app/catalogue.py)."""
        if not is_metric(value):
            known = ", ".join(sorted(p for p in metric_paths() if not p.endswith("*")))
            raise ValueError(f"unknown metric {value!r}; the catalogue has: {known}")
        return value

    @field_validator("levels_2_3_4", mode="before")
    @classmethod
    def _parse(cls, value: object) -> object:
        if isinstance(value, list):
            return [Condition.parse(v) if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _monotonic(self) -> Parameter:
        conditions = self.levels_2_3_4
        if len({c.rising for c in conditions}) != 1:
            raise ValueError(f"{self.id}: level conditions must all point the same way")
        thresholds = [c.threshold for c in conditions]
        stricter = sorted(thresholds, reverse=not conditions[0].rising)
        if thresholds != stricter:
            raise ValueError(f"{self.id}: levels 2, 3, 4 must get stricter: {thresholds}")
        return self

    def level(self, value: float) -> int:
        level = 1
        for candidate, condition in enumerate(self.levels_2_3_4, start=2):
            if condition.holds(value):
                level = candidate
        return level


class OpelProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: str
    parameters: Annotated[list[Parameter], Field(min_length=1)]
    score_bands: Annotated[list[float], Field(min_length=3, max_length=3)]
    drop_after_minutes: float = Field(ge=0)

    @model_validator(mode="after")
    def _bands(self) -> OpelProfile:
        if self.score_bands != sorted(self.score_bands):
            raise ValueError("score_bands must increase")
        if len({p.id for p in self.parameters}) != len(self.parameters):
            raise ValueError("parameter ids must be unique")
        return self


def load_profile(path: str | Path) -> OpelProfile:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        return OpelProfile.model_validate(data)
    except (OSError, yaml.YAMLError, ValueError) as error:
        raise ConfigurationError(f"OPEL profile {path}: {error}") from error
