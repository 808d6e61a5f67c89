"""JSON events (ambulance, care-home, discharge): strict pydantic validation, so a wrong type
is a precise dead-letter reason rather than a silent coercion. pydantic's own JSON parser reads
the bytes once, with a nesting limit (JSON nested 100,000 deep is refused, not a RecursionError)."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from app.ingest.decoders.errors import InvalidValue, Undecodable

Model = TypeVar("Model", bound=BaseModel)


def decode_json(raw: bytes, model: type[Model]) -> Model:
    try:
        # JSON mode: strict types, with ISO-8601 strings accepted for datetimes.
        return model.model_validate_json(raw)
    except ValidationError as error:
        first = error.errors(include_input=False)[0]
        if first["type"] == "json_invalid":
            raise Undecodable(f"not JSON: {first['msg'].removeprefix('Invalid JSON: ')}") from error
        where = ".".join(str(part) for part in first["loc"]) or "(document)"
        raise InvalidValue(f"{model.__name__}: {where}: {first['msg']}") from error
