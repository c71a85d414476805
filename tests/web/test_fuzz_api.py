"""The studio's API fuzzed from its own OpenAPI schema (schemathesis).

Every operation the schema lists is called with generated requests, both ones that
fit the schema and ones that break it: whatever they hold, the answer is never a
5xx, and afterwards every listing still answers. Examples per operation are bounded
so the run fits `make test`; GENLAB_FUZZ_EXAMPLES raises the bound for a longer hunt.

Two things keep the run bounded in time, not in what it explores: generation bodies
are capped at small sizes and batches before they are sent (a valid 4096x4096
request would only measure the renderer), and jobs a case leaves queued are
cancelled after it, so the worker never falls behind the fuzzer.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from sqlalchemy import update

from genlab.web.app import create_app
from genlab.web.models import Job, utcnow
from genlab.web.settings import Settings
from tests.web.conftest import generate_done

EXAMPLES = int(os.environ.get("GENLAB_FUZZ_EXAMPLES", "20"))
SMALL = {"width": 64, "height": 64, "size": 64}
CAPS = {"batch_size": 2, "n_iter": 2, "steps": 4, "iterations": 4, "coarse_iterations": 2}
SEEDED_JOBS = 2  # made before the fuzz, so that ids 1 and 2 name real jobs and images


def _operations() -> dict[str, object]:
    """The schema's operations, read from an app that is built but never started."""
    folder = tempfile.mkdtemp(prefix="genlab-openapi-")
    try:
        spec = create_app(Settings(data_dir=Path(folder))).openapi()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    schema = schemathesis.openapi.from_dict(spec)
    return {op.label: op for op in (result.ok() for result in schema.get_all_operations())}


OPERATIONS = _operations()


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data = tmp_path_factory.mktemp("fuzz")
    os.environ["XDG_CACHE_HOME"] = str(data / "cache")
    # Host 127.0.0.1: a token-less studio answers only to loopback names.
    app = create_app(Settings(data_dir=data / "studio"))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        generate_done(client, "a red circle", seed=1, width=64, height=64)
        generate_done(client, "a blue square", seed=2, width=64, height=64)
        yield client


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_no_request_gets_a_server_error(label: str, fuzzed: TestClient) -> None:
    operation = OPERATIONS[label]
    cases = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @given(case=cases)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,  # the same cases every run: a failure here reproduces
        database=None,
    )
    def check(case) -> None:
        _tame(case.body)
        response = fuzzed.request(**_httpx_kwargs(case, str(fuzzed.base_url)))
        try:
            assert response.status_code < 500, (
                f"{label} -> {response.status_code}: {response.text[:300]}\n"
                f"{case.as_curl_command()}"
            )
        finally:
            _cancel_queued(fuzzed)

    check()


def test_listings_still_answer_after_the_fuzz(fuzzed: TestClient) -> None:
    # pytest runs a module's tests in file order: this one after the fuzz above.
    for path in ("/api/jobs", "/api/jobs?state=failed", "/api/images", "/queue", "/gallery"):
        response = fuzzed.get(path)
        assert response.status_code == 200, (path, response.text[:300])
    listed = fuzzed.get("/api/jobs", params={"limit": 500}).json()["items"]
    assert len(listed) >= SEEDED_JOBS
    for job in listed[:50]:
        assert fuzzed.get(f"/api/jobs/{job['id']}").status_code == 200
        assert fuzzed.get(f"/jobs/{job['id']}").status_code == 200


def _httpx_kwargs(case, base_url: str) -> dict[str, object]:
    """schemathesis describes a request in `requests` terms; TestClient speaks httpx."""
    kwargs = case.as_transport_kwargs(base_url=base_url)
    kwargs.pop("cookies", None)  # the client keeps its own (CSRF) cookie jar
    if kwargs.get("files"):  # httpx wants each part's content as text or bytes
        kwargs["files"] = [(name, _part(value)) for name, value in kwargs["files"]]
    elif "files" in kwargs:
        del kwargs["files"]
    if "data" in kwargs:
        data = kwargs.pop("data")
        if isinstance(data, (bytes, str)):
            kwargs["content"] = data
        else:
            kwargs["data"] = data
    return kwargs


def _part(value: object) -> object:
    if isinstance(value, tuple) and len(value) >= 2:
        return (value[0], _part(value[1]), *value[2:])
    return value if isinstance(value, (bytes, str)) else str(value)


def _tame(body: object) -> None:
    """Cap sizes and counts in a generated body (see the module docstring)."""
    if not isinstance(body, dict):
        return
    for key, cap in {**SMALL, **CAPS}.items():
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > cap:
            body[key] = cap if key not in SMALL or value % 8 == 0 else value


def _cancel_queued(client: TestClient) -> None:
    studio = client.app.state.studio
    with studio.sessions() as session:
        session.execute(
            update(Job)
            .where(Job.state == "queued", Job.id > SEEDED_JOBS)
            .values(state="cancelled", finished_at=utcnow())
        )
        session.commit()
