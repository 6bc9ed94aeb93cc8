"""Fixtures of the package tests: real upstream outputs (once per session), a packaged set,
a local Hub."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

# The helpers beside this file (the real upstream, the test Hub server) are plain modules.
sys.path.insert(0, str(Path(__file__).parent))

from hubserver import HubServer
from upstream import Upstream, cached_upstream, package

from factory.params import load_params

# Never let the client take the Xet path (the test server does not speak it either).
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
# DVC subprocesses in these tests must not try to send usage analytics.
os.environ.setdefault("DVC_NO_ANALYTICS", "1")


@pytest.fixture(scope="session")
def upstream(tmp_path_factory) -> Upstream:
    """phantom -> ingest -> train -> sample -> gate, run for real by `dvc repro gate` on a
    tiny copy of the project (FACTORY_TEST_CACHE=<dir> keeps it across sessions)."""
    cache = os.environ.get("FACTORY_TEST_CACHE")
    base = Path(cache) if cache else tmp_path_factory.mktemp("upstream")
    return cached_upstream(base)


@pytest.fixture(scope="session")
def params(upstream):
    return load_params(upstream.params_file)


@pytest.fixture(scope="session")
def packaged_once(upstream, params, tmp_path_factory):
    out = tmp_path_factory.mktemp("packaged") / params.package.name
    return out, package(upstream, params, out)


@pytest.fixture
def packaged(packaged_once, tmp_path):
    """A fresh copy of the packaged set (tests may tamper with it) and its lineage."""
    src, lineage = packaged_once
    out = tmp_path / src.name
    shutil.copytree(src, out)
    return out, lineage


@pytest.fixture
def hub():
    with HubServer() as server:
        yield server
