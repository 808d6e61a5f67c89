"""JSON events (ambulance, care-home, discharge): strict pydantic validation, so a wrong type
is a precise dead-letter reason rather than a silent coercion."""

from __future__ import annotations

import json
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from consumers.decoders.errors import InvalidValue, Undecodable

Model = TypeVar("Model", bound=BaseModel)


def decode_json(raw: bytes, model: type[Model]) -> Model:
    try:
        json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Undecodable(f"not JSON: {error}") from error
    try:
        # JSON mode: strict types, with ISO-8601 strings accepted for datetimes.
        return model.model_validate_json(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(document)"
        raise InvalidValue(f"{model.__name__}: {where}: {first['msg']}") from error
