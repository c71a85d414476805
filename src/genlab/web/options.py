"""Server options (A1111's /sdapi/v1/options) and which models the server may run.

A model over the web must be one the catalog lists (built-in engines, folders in
$GENLAB_MODELS or ./models, pipelines already in the Hugging Face cache): a request
naming any other path or hub id would make the server read arbitrary files or
download from the network, so it is refused.
"""

from __future__ import annotations

import json
import math
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from genlab.core.errors import InvalidRequest
from genlab.core.request import DEFAULT_MODEL, check_json_texts, check_name
from genlab.web.a1111_fields import check_depth
from genlab.web.a1111_options import MAX_OPTIONS, MAX_VALUE_CHARS, check_option, defaults
from genlab.web.models import Option

MODEL_OPTION = "sd_model_checkpoint"
FORMAT_OPTION = "samples_format"
CLIP_SKIP_OPTION = "CLIP_stop_at_last_layers"


def allowed_models() -> dict[str, str]:
    """Every name a client may use for a model, mapped to the name genlab runs."""
    from genlab.services.catalog import local_models, model_aliases

    names = {info.name: info.name for info in local_models()}
    names.update({alias: target for alias, target in model_aliases().items() if target in names})
    return names


def check_model(name: str) -> str:
    """The runnable model name for `name`, or InvalidRequest listing what is allowed.
    A1111 titles ("name [hash]") are accepted too."""
    allowed = allowed_models()
    candidate = name.strip()
    if candidate not in allowed and candidate.endswith("]") and " [" in candidate:
        candidate = candidate.rsplit(" [", 1)[0]
    if candidate not in allowed:
        raise InvalidRequest("model", name, f"must be one of: {', '.join(sorted(allowed))}")
    return allowed[candidate]


def get_options(session: Session) -> dict[str, Any]:
    """A1111's option names with genlab's values, then what clients stored."""
    stored = {row.key: json.loads(row.value) for row in session.scalars(select(Option))}
    return {**defaults(), **stored}


def checked_options(values: dict[str, Any]) -> dict[str, Any]:
    """`values` as they would be stored, or InvalidRequest for the first bad one: known
    options by their type and range, any option by name and size."""
    checked = {}
    for key, value in values.items():
        if not isinstance(key, str) or not 0 < len(key) <= 128:
            raise InvalidRequest("option", key, "names are 1 to 128 characters")
        check_name(key, "option")
        check_depth(value, key)
        check_json_texts(value, key)  # stored, then read back by every client
        _check_finite(value, key)
        value = check_option(key, value)
        if key == MODEL_OPTION:
            value = check_model(value)
        if len(json.dumps(value)) > MAX_VALUE_CHARS:
            raise InvalidRequest(
                key, value, f"an option's JSON is at most {MAX_VALUE_CHARS} characters"
            )
        checked[key] = value
    return checked


def _check_finite(value: Any, key: str) -> None:
    """NaN and infinities are not JSON: stored, they would break every client that
    reads the options back."""
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidRequest(key, value, "must be a finite number (JSON has no NaN)")
    if isinstance(value, dict):
        for item in value.values():
            _check_finite(item, key)
    elif isinstance(value, list):
        for item in value:
            _check_finite(item, key)


def set_options(session: Session, values: dict[str, Any]) -> dict[str, Any]:
    """Store options, all or none; setting sd_model_checkpoint switches the default
    model, samples_format the format of stored images."""
    checked = checked_options(values)
    known = set(session.scalars(select(Option.key)))
    count = session.scalar(select(func.count()).select_from(Option)) or 0
    added = len(set(checked) - known)
    if count + added > MAX_OPTIONS:
        raise InvalidRequest(
            "options", f"{count + added} keys", f"at most {MAX_OPTIONS} options are stored"
        )
    for key, value in checked.items():
        session.merge(Option(key=key, value=json.dumps(value)))
    session.commit()
    return get_options(session)


def request_options(session: Session, overrides: dict[str, Any]) -> dict[str, Any]:
    """The options one request runs with: the stored ones, with its override_settings
    (checked as a POST to /options would be) on top."""
    if not isinstance(overrides, dict):
        raise InvalidRequest("override_settings", overrides, "must be an object")
    return {**get_options(session), **checked_options(overrides)}


def default_model(session: Session) -> str:
    model = get_options(session)[MODEL_OPTION]
    return model if isinstance(model, str) and model else DEFAULT_MODEL
