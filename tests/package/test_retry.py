"""Hub calls: transient failures are retried with backoff, then reported in one line."""

from __future__ import annotations

import httpx2
import pytest

from factory.errors import FactoryError
from factory.package.hub import Hub, hub_call


def test_transient_errors_are_retried_then_reported():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise httpx2.ConnectError("connection refused")
        return "ok"

    hub = Hub(endpoint="http://hub.invalid", retries=4, backoff=0.0)
    assert hub_call(hub, "probe", flaky) == "ok" and len(calls) == 3
    calls.clear()
    with pytest.raises(FactoryError, match="after 2 attempts"):
        hub_call(Hub(retries=2, backoff=0.0), "probe", lambda: flaky() and flaky())
    with pytest.raises(ValueError):  # a bug is not retried or hidden
        hub_call(hub, "probe", lambda: int("x"))
