"""Property-based checks of the whole API with schemathesis against the app on a real port (a server process
started by bench/stb/server.py): no 5xx, every status, content type, header and body matches the document.
A valid device token is injected into every generated request (the admin token on admin operations; on TV
pages as the ``token`` query parameter); the number of examples per operation is bounded to stay fast."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from stb_api.openapi import build_document

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("stb-schemathesis")
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "stb" / "server.py"), "--data", str(data),
                             "--items", "30"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, "the STB test server exited before printing its port"
        yield json.loads(line)
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


# The document is built in-process (the test server serves the same bytes: test_openapi pins that), so the
# schema exists at collection time. (schemathesis.pytest.from_fixture fails under pytest 9: it reads
# request.node._nodeid, which pytest 9 no longer has.)
schema = schemathesis.openapi.from_dict(build_document())
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms(case: Any, stb_server: dict[str, Any]) -> None:
    path = case.operation.path
    token = stb_server["admin_token"] if path.startswith("/stb/v1/admin/") else stb_server["token"]
    if path.startswith("/tv/") and path != "/tv/static/{name}":
        case.query = {**(case.query or {}), "token": stb_server["token"]}
    headers = {"Authorization": f"Bearer {token}"}
    case.call_and_validate(base_url=f"http://127.0.0.1:{stb_server['port']}", headers=headers, checks=CHECKS)
