"""Licence enforcement: a public push of a set whose source forbids redistribution is refused,
naming the source and why; an explicit override naming who decided is recorded; private
pushes stay allowed."""

from __future__ import annotations

import pytest

from factory.errors import FactoryError
from factory.ingest.sources.terms import adapter_terms
from factory.package.licence import LicenceRefused, check_redistribution
from factory.phantom.marker import marker


def lineage_from(adapter: str, dataset_id: str | None = None) -> dict:
    terms = adapter_terms(adapter).as_dict()
    name = terms["name"]
    return {
        "source": {
            "record": {
                "adapter": adapter,
                "dataset": {"id": dataset_id or adapter, "name": name, "synthetic": False},
                "terms": terms,
            }
        }
    }


PHANTOM = {
    "source": {
        "record": {
            "adapter": "inbreast",
            "dataset": {
                "id": "factory-phantom",
                "name": "embedded phantom (synthetic, INbreast layout)",
                "synthetic": True,
            },
            "terms": marker("inbreast")["terms"],
        }
    }
}
OVERRIDE = {"decided_by": "Dr. A. Example (data steward)", "reason": "written permission 2026-11"}


@pytest.mark.parametrize("adapter", ["inbreast", "rsna", "vindr", "mias", "folder"])
def test_public_push_of_a_restricted_source_is_refused(adapter):
    lineage = lineage_from(adapter)
    name = lineage["source"]["record"]["terms"]["name"]
    with pytest.raises(LicenceRefused) as err:
        check_redistribution(lineage, private=False, where="datasets/synthetic/x")
    message = str(err.value)
    assert "refusing a PUBLIC push" in message and repr(name) in message
    assert lineage["source"]["record"]["terms"]["license_name"] in message
    assert "--terms-override-by" in message and "drop --public" in message


@pytest.mark.parametrize("lineage", [lineage_from("cbis-ddsm"), PHANTOM], ids=["cbis", "phantom"])
def test_public_push_of_a_redistributable_source_is_allowed(lineage):
    assert check_redistribution(lineage, private=False) is None


def test_private_push_is_always_allowed():
    assert check_redistribution(lineage_from("inbreast"), private=True) is None
    assert check_redistribution({"source": {}}, private=True) is None


def test_override_is_recorded_with_who_and_why():
    got = check_redistribution(lineage_from("inbreast"), private=False, terms_override=OVERRIDE)
    assert got["decided_by"] == OVERRIDE["decided_by"]
    assert got["reason"] == OVERRIDE["reason"]
    assert got["source"] == "INbreast" and got["license"] == "other"
    assert got["decided_at"].endswith("+00:00")


@pytest.mark.parametrize(
    "override, missing",
    [
        ({"decided_by": "", "reason": "ok"}, "--terms-override-by"),
        ({"decided_by": "me", "reason": "  "}, "--terms-override-reason"),
        ({}, "--terms-override-by"),
    ],
)
def test_override_without_who_or_why_is_an_error(override, missing):
    with pytest.raises(FactoryError, match=missing):
        check_redistribution(lineage_from("inbreast"), private=False, terms_override=override)


def test_set_without_recorded_terms_cannot_go_public():
    with pytest.raises(LicenceRefused, match="records no source terms"):
        check_redistribution({"source": {"datasets": ["inbreast"]}}, private=False)


# -- end to end: `factory publish` against the test Hub, on the real upstream -------------
REPO = "factory-org/restricted"


@pytest.fixture(scope="module")
def restricted_project(tmp_path_factory, upstream, params):
    """A clean project whose set was packaged from a source.json naming INbreast."""
    import json

    from upstream import copy_outputs, make_project

    copy = copy_outputs(upstream, tmp_path_factory.mktemp("inbreast-upstream"))
    source = copy.root / "outputs" / "ingest" / "source.json"
    record = json.loads(source.read_text())
    record["dataset"] = {"id": "inbreast", "name": "INbreast", "synthetic": False, "marker": None}
    record["terms"] = adapter_terms("inbreast").as_dict()
    source.write_text(json.dumps(record))
    root = tmp_path_factory.mktemp("restricted")
    return root, make_project(root, copy, params)


def publish_to(server, project, **kw):
    from factory.package.hub import Hub, publish

    root, set_dir = project
    return publish(
        set_dir,
        REPO,
        Hub(endpoint=server.url, token=server.state.token, backoff=0.0),
        acceptance_path=root / "outputs" / "benchmark" / "acceptance.json",
        project_dir=root,
        **kw,
    )


@pytest.mark.slow
def test_publish_refuses_public_allows_private_and_records_override(restricted_project, tmp_path):
    import json

    from hubserver import HubServer
    from huggingface_hub import DatasetCard

    from factory.package.hub import Hub, download_set

    with HubServer() as hub:
        with pytest.raises(LicenceRefused, match=r"refusing a PUBLIC push.*'INbreast'"):
            publish_to(hub, restricted_project, private=False)
        assert REPO not in hub.state.repos  # refused before anything was created
        publish_to(hub, restricted_project, private=True)
        assert hub.state.repos[REPO].private
    with HubServer() as hub:
        publish_to(hub, restricted_project, private=False, terms_override=OVERRIDE)
        assert not hub.state.repos[REPO].private
        pulled = download_set(
            REPO, "v0.1.0", Hub(endpoint=hub.url, token=None), cache_dir=tmp_path / "c"
        )
    lineage = json.loads((pulled / "lineage.json").read_text())
    recorded = lineage["publication"]["terms_override"]
    assert recorded["decided_by"] == OVERRIDE["decided_by"]
    assert recorded["reason"] == OVERRIDE["reason"] and recorded["source"] == "INbreast"
    card = DatasetCard.load(pulled / "README.md")
    assert OVERRIDE["decided_by"] in card.text
    croissant = json.loads((pulled / "croissant.json").read_text())  # publish uploads it
    assert croissant["prov:wasDerivedFrom"]["identifier"] == "inbreast"
    assert any(
        "Benchmark verdict: accepted" in line for line in croissant["rai:dataPreprocessingProtocol"]
    )


def test_packaging_refuses_a_source_without_declared_terms(upstream, params, tmp_path):
    """Bad input: ingest recorded an adapter with no TERMS -> packaging names the adapter."""
    import json

    from upstream import copy_outputs, package

    copy = copy_outputs(upstream, tmp_path / "up")
    source = copy.root / "outputs" / "ingest" / "source.json"
    record = json.loads(source.read_text())
    source.write_text(json.dumps({**record, "adapter": "rsna", "terms": None}))
    out = tmp_path / "set"
    with pytest.raises(FactoryError, match=r"adapter 'rsna' declares no terms.*sources/rsna.py"):
        package(copy, params, out)
    assert not out.exists()
