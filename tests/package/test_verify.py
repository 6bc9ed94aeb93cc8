"""Issue 15 §2: `factory verify` checks every derivable claim of a set, and its signature.

Every kind of tampering in tampering.py is refused by `factory verify` (exit 2, naming
what differs); an intact set passes; a consistently rewritten set passes the claim checks
but not a trusted signature; `factory lineage --image` refuses a corrupted shard.
"""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import tampering
from upstream import acceptance, gate_has_record_mode, package

from factory.cli import main
from factory.package.build import write_card_and_lineage
from factory.package.dataset import features, read_rows
from factory.package.hub import Publication, published_lineage
from factory.package.signing import check_signature, load_private_key, new_key, sign_file
from factory.package.verify import check_set, verify_set


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """(owner's private key path, public key path), and a forger's pair."""
    base = tmp_path_factory.mktemp("keys")
    return new_key(base / "owner.pem"), new_key(base / "forger.pem")


def test_intact_set_verifies(packaged, capsys):
    out, _ = packaged
    assert verify_set(out) == []
    assert main(["verify", str(out)]) == 0
    text = capsys.readouterr().out
    assert "every shard, image, count and card claim matches" in text
    assert "signature: unsigned" in text


@pytest.mark.parametrize(
    "tamper", tampering.TAMPERINGS, ids=[t.__name__ for t in tampering.TAMPERINGS]
)
def test_each_tampering_is_refused_by_verify(packaged, tamper, capsys):
    out, _ = packaged
    expected = tampering.apply_to_folder(out, tamper)
    assert main(["verify", str(out)]) == 2
    captured = capsys.readouterr()
    assert "DIFFERS" in captured.out and expected in captured.out, captured.out
    assert "difference(s)" in captured.err


def test_stray_shard_is_refused(packaged, capsys):
    out, _ = packaged
    (out / "data" / "train-99999-of-00001.parquet").write_bytes(b"stray")
    assert main(["verify", str(out)]) == 2
    assert "present but not in lineage.json" in capsys.readouterr().out


@pytest.mark.skipif(not gate_has_record_mode(), reason="the gate has no record mode")
def test_failed_gate_set_is_consistent_but_exits_1(upstream, params, tmp_path, capsys):
    out = tmp_path / "set"
    package(upstream, params, out, gate="outputs/gate-record")
    assert verify_set(out) == []
    assert main(["verify", str(out)]) == 1
    assert "gate FAILED: not for publication" in capsys.readouterr().err


def published_copy(src, dest, verdict=None):
    """What publish uploads, staged locally: published lineage, card, croissant."""
    from factory.package.hub import stage_upload
    from factory.package.lineage import read_lineage

    lineage = published_lineage(read_lineage(src), Publication(verdict or acceptance()), "abc")
    dest.mkdir()
    stage_upload(src, dest, lineage)
    return dest


def test_benchmark_verdict_in_card_is_checked_against_lineage(packaged, tmp_path):
    out, _ = packaged
    pub = published_copy(out, tmp_path / "pub")
    assert verify_set(pub) == []
    assert "**Benchmark verdict:** ACCEPTED" in (pub / "README.md").read_text()
    lineage = json.loads((pub / "lineage.json").read_text())
    lineage["publication"]["benchmark"] = acceptance(gain=0.0, ci95=(-0.1, 0.1))
    (pub / "lineage.json").write_text(json.dumps(lineage))
    diffs = verify_set(pub)
    assert any("says 'Benchmark verdict: ACCEPTED' but" in d and "REJECTED" in d for d in diffs)


def test_benchmark_verdict_contradicting_its_reasons(packaged, tmp_path):
    out, _ = packaged
    rejected = acceptance(gain=0.0, ci95=(-0.1, 0.1))
    pub = published_copy(out, tmp_path / "pub", {**rejected, "accepted": True})
    assert any("accepted with 1 rejection reason(s)" in d for d in verify_set(pub))


def test_gate_row_contradicting_its_threshold(packaged):
    out, _ = packaged
    lineage = json.loads((out / "lineage.json").read_text())
    row = next(r for r in lineage["gate"]["checks"] if r["gated"] and r["threshold"] is not None)
    row["compared_value"] = row["threshold"] + 1 if row["direction"] == "max" else -1.0
    (out / "lineage.json").write_text(json.dumps(lineage))
    assert any("says passed, but" in d for d in verify_set(out))


def _forge(folder, private_key_path):
    """A consistent rewrite: another model hash in every row's place is too much work, so
    the forger changes what no shard can contradict (the recorded git commit and the
    set's title), re-renders card and croissant, and signs with their own key."""
    lineage = json.loads((folder / "lineage.json").read_text())
    lineage["package"]["git_commit"] = "f0f0f0f0"
    lineage["set"]["pretty_name"] = "A better set"
    write_card_and_lineage(folder, lineage, features(tuple(lineage["set"]["classes"])))
    sign_file(folder / "lineage.json", load_private_key(private_key_path))


def test_signed_set_and_a_resigned_forgery(packaged, keys, tmp_path, capsys):
    (owner, owner_pub), (forger, _) = keys
    out, _ = packaged
    sign_file(out / "lineage.json", load_private_key(owner))
    assert main(["verify", str(out), "--trusted-key", str(owner_pub)]) == 0
    assert "signed by the trusted key" in capsys.readouterr().out

    forged = tmp_path / "forged"
    shutil.copytree(out, forged)
    _forge(forged, forger)
    assert verify_set(forged) == []  # every claim agrees: only the signature tells
    assert main(["verify", str(forged)]) == 0  # no trusted key given: says so
    assert "not checked against a trusted key" in capsys.readouterr().out
    assert main(["verify", str(forged), "--trusted-key", str(owner_pub)]) == 2
    assert "BAD SIGNATURE: signed by key" in capsys.readouterr().err

    unsigned = tmp_path / "unsigned"
    shutil.copytree(forged, unsigned)
    (unsigned / "lineage.json.sig").unlink()
    assert check_signature(unsigned).state == "unsigned"
    assert main(["verify", str(unsigned), "--trusted-key", str(owner_pub)]) == 2


def test_bad_signature_after_an_edit(packaged, keys, capsys):
    (owner, _), _ = keys
    out, _ = packaged
    sign_file(out / "lineage.json", load_private_key(owner))
    lineage = json.loads((out / "lineage.json").read_text())
    lineage["package"]["git_dirty"] = not lineage["package"]["git_dirty"]
    (out / "lineage.json").write_text(json.dumps(lineage, indent=2))
    result = check_set(out)
    assert result.differences == [] and result.signature.state == "bad"
    assert main(["verify", str(out)]) == 2
    assert "lineage.json changed after it was signed" in capsys.readouterr().err


def test_sign_key_new(tmp_path, capsys):
    key = tmp_path / "keys" / "me.pem"
    assert main(["sign-key", "new", "--out", str(key)]) == 0
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert (tmp_path / "keys" / "me.pem.pub").read_bytes().startswith(b"-----BEGIN PUBLIC KEY")
    assert "FACTORY_SIGNING_KEY" in capsys.readouterr().out
    assert main(["sign-key", "new", "--out", str(key)]) == 2  # never overwritten
    assert "never overwritten" in capsys.readouterr().err
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    assert main(["sign-key", "new", "--out", str(repo / "k.pem")]) == 2
    assert "keep signing keys out of git" in capsys.readouterr().err
    assert not (repo / "k.pem").exists()


def test_lineage_of_an_image_verifies_its_shard(packaged, capsys):
    out, _ = packaged
    image_id = read_rows(out)["image_id"].iloc[0]
    assert main(["lineage", str(out), "--image", image_id, "--json"]) == 0
    chain = json.loads(capsys.readouterr().out)
    assert chain["image"]["image_id"] == image_id
    tampering.apply_to_folder(out, tampering.shard_bytes)
    assert main(["lineage", str(out), "--image", image_id]) == 2
    err = capsys.readouterr().err
    assert "the shard is corrupted or was changed" in err
