"""Server options (A1111's /sdapi/v1/options) and which models the server may run.

A model over the web must be one the catalog lists (built-in engines, folders in
$GENLAB_MODELS or ./models, pipelines already in the Hugging Face cache): a request
naming any other path or hub id would make the server read arbitrary files or
download from the network, so it is refused.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from genlab.core.errors import InvalidRequest
from genlab.core.request import DEFAULT_MODEL, check_json_texts, check_name
from genlab.web.models import Option

MODEL_OPTION = "sd_model_checkpoint"
# What GET /sdapi/v1/options shows when nothing was set (A1111 names and meanings).
DEFAULTS: dict[str, Any] = {
    MODEL_OPTION: DEFAULT_MODEL,
    "samples_format": "png",  # the gallery stores PNG, whatever is set
}


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
    stored = {row.key: json.loads(row.value) for row in session.scalars(select(Option))}
    return {**DEFAULTS, **stored}


def set_options(session: Session, values: dict[str, Any]) -> dict[str, Any]:
    """Store options; setting sd_model_checkpoint switches the default model."""
    values = dict(values)
    if MODEL_OPTION in values:
        if not isinstance(values[MODEL_OPTION], str):
            raise InvalidRequest(MODEL_OPTION, values[MODEL_OPTION], "must be a model name")
        values[MODEL_OPTION] = check_model(values[MODEL_OPTION])
    for key, value in values.items():
        if not isinstance(key, str) or not 0 < len(key) <= 128:
            raise InvalidRequest("option", key, "names are 1 to 128 characters")
        check_name(key, "option")
        check_json_texts(value, key)  # stored, then read back by every client
        session.merge(Option(key=key, value=json.dumps(value)))
    session.commit()
    return get_options(session)


def default_model(session: Session) -> str:
    model = get_options(session)[MODEL_OPTION]
    return model if isinstance(model, str) and model else DEFAULT_MODEL
