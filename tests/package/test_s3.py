"""DVC remotes on S3: the README's recipe, run verbatim against an S3 server on 127.0.0.1.

The fixture starts moto's S3 server (`python -m moto.server`) with authentication on (real
IAM keys: a wrong key is refused as S3 refuses it) and stops it after the module; nothing
outside the test starts or stops it. DVC talks to it through dvc-s3, as to any S3.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from upstream import git, make_project

from factory.errors import FactoryError
from factory.package.remote import dvc_sync
from factory.package.verify import verify_set

pytestmark = pytest.mark.slow
README = Path(__file__).resolve().parents[2] / "README.md"
BUCKET = "factory-sets"
SET = "datasets/synthetic/phantom-demo"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port: int, proc: subprocess.Popen, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited: {proc.stderr.read().decode()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"moto server did not listen on 127.0.0.1:{port} in {seconds} s")


def bootstrap(endpoint: str) -> tuple[str, str]:
    """An IAM user with an S3 policy and the bucket (the server's 3 unauthenticated calls)."""
    import boto3

    anon = {"endpoint_url": endpoint, "region_name": "us-east-1"}
    iam = boto3.client("iam", aws_access_key_id="boot", aws_secret_access_key="boot", **anon)
    iam.create_user(UserName="factory")
    key = iam.create_access_key(UserName="factory")["AccessKey"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    iam.put_user_policy(UserName="factory", PolicyName="s3", PolicyDocument=json.dumps(policy))
    boto3.client(
        "s3",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
        **anon,
    ).create_bucket(Bucket=BUCKET)
    return key["AccessKeyId"], key["SecretAccessKey"]


@pytest.fixture(scope="module")
def s3():
    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"}  # then every call is checked
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(port, proc)
        endpoint = f"http://127.0.0.1:{port}"
        key, secret = bootstrap(endpoint)
        yield SimpleNamespace(endpoint=endpoint, key=key, secret=secret)
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture
def creds(s3, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret)
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    return s3


def s3_client(s3):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        region_name="us-east-1",
        aws_access_key_id=s3.key,
        aws_secret_access_key=s3.secret,
    )


def recipe(part: str, s3, git_url: str = "", revision: str = "main") -> str:
    """The README's S3 recipe block `part`, with its placeholders filled in."""
    text = README.read_text(encoding="utf-8")
    m = re.search(
        rf"<!-- s3-recipe:{part} -->\n```bash\n(.*?)```\n<!-- s3-recipe:end -->", text, re.S
    )
    assert m, f"README.md has no s3-recipe:{part} block"
    script = m.group(1)
    for placeholder, value in {
        "s3://BUCKET/": f"s3://{BUCKET}/",
        "https://S3-ENDPOINT": s3.endpoint,
        "GIT-URL": git_url,
        "REVISION": revision,
    }.items():
        script = script.replace(placeholder, value)
    return script


def bash(script: str, cwd: Path, s3) -> subprocess.CompletedProcess:
    """Run a recipe as a user's shell would: the venv's dvc on PATH, keys in the env."""
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "AWS_ACCESS_KEY_ID": s3.key,
        "AWS_SECRET_ACCESS_KEY": s3.secret,
        "DVC_NO_ANALYTICS": "1",
    }
    return subprocess.run(
        ["bash", "-e", "-c", script], cwd=cwd, capture_output=True, text=True, env=env
    )


@pytest.fixture(scope="module")
def producer(s3, tmp_path_factory, upstream, params):
    """A project clone with a packaged set, pushed to S3 with the README's producer recipe."""
    root = tmp_path_factory.mktemp("producer")
    set_dir = make_project(root, upstream, params)
    run = bash(recipe("producer", s3), root, s3)
    assert run.returncode == 0, run.stdout + run.stderr
    return root, set_dir


def files_of(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def consume(producer, s3, dest: Path) -> subprocess.CompletedProcess:
    root, _ = producer
    return bash(recipe("consumer", s3, git_url=str(root)), dest, s3)


def test_readme_recipe_round_trip_is_byte_identical(producer, creds, tmp_path):
    _, set_dir = producer
    objects = s3_client(creds).list_objects_v2(Bucket=BUCKET)["Contents"]
    assert len(objects) >= len(files_of(set_dir))  # the files + the .dir listing
    run = consume(producer, creds, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    pulled = tmp_path / "factory-sets" / SET
    assert files_of(pulled) == files_of(set_dir)
    assert verify_set(pulled) == []


def test_tampered_object_is_detected(producer, creds, tmp_path):
    _, set_dir = producer
    shard = next((set_dir / "data").glob("*.parquet"))
    md5 = hashlib.md5(shard.read_bytes()).hexdigest()
    key = f"factory/files/md5/{md5[:2]}/{md5[2:]}"
    client = s3_client(creds)
    original = client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    bad = bytearray(original)
    bad[len(bad) // 2] ^= 0xFF
    client.put_object(Bucket=BUCKET, Key=key, Body=bytes(bad))
    try:
        run = consume(producer, creds, tmp_path)  # plain `dvc pull`, as in the README
        assert run.returncode != 0
        assert not (tmp_path / "factory-sets" / SET / shard.relative_to(set_dir)).exists()
        with pytest.raises(FactoryError) as err:  # the same pull through factory's wrapper
            dvc_sync("pull", tmp_path / "factory-sets", [SET])
        assert "ERROR" in str(err.value) and "hint: objects are missing" in str(err.value)
    finally:
        client.put_object(Bucket=BUCKET, Key=key, Body=original)


def test_refused_credentials_pass_dvcs_message_with_our_hint(
    producer, creds, monkeypatch, tmp_path
):
    root, _ = producer
    git("clone", "-q", str(root), str(tmp_path / "c"), cwd=tmp_path)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(FactoryError) as err:
        dvc_sync("pull", tmp_path / "c", [SET])
    message = str(err.value)
    assert "ERROR" in message and "403" in message  # DVC's words
    assert "hint: the remote refused the credentials" in message


def test_unreachable_remote_passes_dvcs_message_with_our_hint(producer, creds, tmp_path):
    root, _ = producer
    clone = tmp_path / "c"
    git("clone", "-q", str(root), str(clone), cwd=tmp_path)
    dead = f"http://127.0.0.1:{free_port()}"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "dvc",
            "remote",
            "modify",
            "--local",
            "storage",
            "endpointurl",
            dead,
        ],
        cwd=clone,
        check=True,
    )
    with pytest.raises(FactoryError) as err:
        dvc_sync("pull", clone, [SET])
    message = str(err.value)
    assert "Could not connect" in message and dead in message
    assert "hint: cannot reach the remote" in message
