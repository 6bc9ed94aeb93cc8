"""Fixtures of the package tests: fake upstream outputs, a packaged set, a local Hub."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# The helpers beside this file (fake upstream outputs, the test Hub server) are plain modules.
sys.path.insert(0, str(Path(__file__).parent))

from hubserver import HubServer
from package_fakes import make_upstream, package

from factory.config import params_from_dict

# Never let the client take the Xet path (the test server does not speak it either).
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
# DVC subprocesses in these tests must not try to send usage analytics.
os.environ.setdefault("DVC_NO_ANALYTICS", "1")


@pytest.fixture
def upstream(tmp_path, tiny_manifest):
    return make_upstream(tmp_path, tiny_manifest)


@pytest.fixture
def params():
    return params_from_dict({"common": {"classes": ["normal", "abnormal"], "image_size": 16}})


@pytest.fixture
def packaged(upstream, params):
    out = upstream.root / "datasets" / "synthetic" / params.package.name
    lineage = package(upstream, params, out)
    return out, lineage


@pytest.fixture
def hub():
    with HubServer() as server:
        yield server
