"""A small Hugging Face Hub-compatible HTTP server, for tests only.

It implements just the endpoints the real `huggingface_hub` client calls for
`factory publish / pull / lineage` (dataset repos only), in memory:

    POST /api/repos/create                         create a repo (409 if it exists)
    POST /api/validate-yaml                        README metadata check (YAML must parse)
    GET  /api/datasets/{repo}/refs                 branches and tags
    POST /api/datasets/{repo}/preupload/{rev}      every file goes the "regular" way
    POST /api/datasets/{repo}/commit/{rev}         NDJSON commit with base64 file contents
    POST /api/datasets/{repo}/tag/{rev}            create a tag (409 if it exists)
    GET  /api/datasets/{repo}/revision/{rev}       repo info at a revision
    GET  /api/datasets/{repo}/tree/{rev}[/path]    file listing
    HEAD/GET /datasets/{repo}/resolve/{rev}/{path} file metadata and download

Uploads never take the LFS or Xet paths: preupload answers "regular" for every file and no
response carries Xet headers. Errors carry the Hub's `X-Error-Code` headers so the client
raises its usual exceptions. Writes need `Authorization: Bearer <token>`. Nothing outside
`tests/` uses this.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

import yaml


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    private: bool
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def resolve(self, rev: str) -> str | None:
        if rev in self.branches:
            return self.branches[rev]
        if rev in self.tags:
            return self.tags[rev]
        return rev if rev in self.commits else None


class HubState:
    """All repos, keyed by 'org/name'. Tests may reach in (e.g. `tamper`)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.lock = threading.Lock()
        self.calls: list[str] = []

    def tamper(self, repo_id: str, rev: str, path: str, data: bytes) -> None:
        """Replace a stored file's bytes in place (simulates corruption on the server)."""
        repo = self.repos[repo_id]
        repo.commits[repo.resolve(rev)][path] = data


API = re.compile(
    r"^/api/datasets/([^/]+/[^/]+)/(refs|preupload|commit|tag|revision|tree)(?:/(.*))?$"
)
RESOLVE = re.compile(r"^/datasets/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: HubState  # set on the subclass made by `serve`

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    # -- plumbing ------------------------------------------------------------------------
    def _send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj, headers: dict | None = None) -> None:
        self._send(
            status,
            json.dumps(obj).encode(),
            {"Content-Type": "application/json", **(headers or {})},
        )

    def _error(self, status: int, code: str | None, message: str) -> None:
        headers = {"X-Error-Message": message}
        if code:
            headers["X-Error-Code"] = code
        self._json(status, {"error": message}, headers)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _authorized(self) -> bool:
        return self.headers.get("Authorization") == f"Bearer {self.state.token}"

    def _repo(self, repo_id: str, write: bool = False) -> Repo | None:
        repo = self.state.repos.get(repo_id)
        if write and not self._authorized():
            self._error(401, None, "Invalid credentials in Authorization header")
            return None
        if repo is None or (repo.private and not self._authorized()):
            self._error(404, "RepoNotFound", "Repository not found")
            return None
        return repo

    def _commit(self, repo: Repo, rev: str) -> str | None:
        oid = repo.resolve(unquote(rev))
        if oid is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        return oid

    # -- verbs ---------------------------------------------------------------------------
    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        self.state.calls.append(f"POST {path}")
        body = self._body()
        with self.state.lock:
            if path == "/api/repos/create":
                return self._create_repo(json.loads(body))
            if path == "/api/validate-yaml":
                return self._validate_yaml(json.loads(body))
            m = API.match(path)
            if not m:
                return self._error(404, None, f"no route {path}")
            repo_id, action, rest = m.groups()
            repo = self._repo(repo_id, write=True)
            if repo is None:
                return None
            if action == "preupload":
                files = json.loads(body)["files"]
                return self._json(
                    200,
                    {
                        "files": [
                            {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                            for f in files
                        ]
                    },
                )
            if action == "commit":
                return self._create_commit(repo_id, repo, rest or "main", body)
            if action == "tag":
                return self._create_tag(repo, rest or "main", json.loads(body))
            return self._error(405, None, f"POST not allowed on {action}")

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        self.state.calls.append(f"{self.command} {path}")
        with self.state.lock:
            m = RESOLVE.match(path)
            if m:
                return self._resolve(*m.groups())
            m = API.match(path)
            if not m:
                return self._error(404, None, f"no route {path}")
            repo_id, action, rest = m.groups()
            repo = self._repo(repo_id)
            if repo is None:
                return None
            if action == "refs":
                return self._refs(repo)
            rev, _, sub = (rest or "main").partition("/")
            oid = self._commit(repo, rev)
            if oid is None:
                return None
            files = repo.commits[oid]
            if action == "revision":
                return self._json(
                    200,
                    {
                        "id": repo_id,
                        "sha": oid,
                        "private": repo.private,
                        "siblings": [{"rfilename": p} for p in sorted(files)],
                    },
                )
            if action == "tree":
                prefix = unquote(sub).rstrip("/")
                return self._json(
                    200,
                    [
                        {"type": "file", "path": p, "size": len(d), "oid": git_blob_sha1(d)}
                        for p, d in sorted(files.items())
                        if not prefix or p.startswith(prefix + "/")
                    ],
                )
            return self._error(405, None, f"GET not allowed on {action}")

    do_HEAD = do_GET

    # -- endpoints -----------------------------------------------------------------------
    def _create_repo(self, payload: dict) -> None:
        if not self._authorized():
            return self._error(401, None, "Invalid credentials in Authorization header")
        if payload.get("type") != "dataset":
            return self._error(400, None, "this test server only hosts dataset repos")
        repo_id = f"{payload['organization']}/{payload['name']}"
        url = f"http://{self.headers['Host']}/datasets/{repo_id}"
        if repo_id in self.state.repos:  # like the Hub, the conflict still names the repo
            message = "You already created this dataset repo"
            return self._json(409, {"error": message, "url": url}, {"X-Error-Message": message})
        private = payload.get("visibility", "private" if payload.get("private") else "public")
        repo = Repo(private=private == "private")
        oid = hashlib.sha1(f"init {repo_id}".encode()).hexdigest()
        repo.commits[oid] = {}
        repo.branches["main"] = oid
        self.state.repos[repo_id] = repo
        return self._json(200, {"url": url})

    def _validate_yaml(self, payload: dict) -> None:
        text = payload.get("content", "")
        m = re.match(r"^---\n(.*?)\n---", text, re.S)
        try:
            yaml.safe_load(m.group(1) if m else "")
        except yaml.YAMLError as exc:
            return self._json(400, {"errors": [{"message": str(exc)}], "warnings": []})
        return self._json(200, {"errors": [], "warnings": []})

    def _refs(self, repo: Repo) -> None:
        def refs(kind: str, items: dict) -> list:
            return [
                {"name": n, "ref": f"refs/{kind}/{n}", "targetCommit": o} for n, o in items.items()
            ]

        return self._json(
            200,
            {
                "branches": refs("heads", repo.branches),
                "converts": [],
                "tags": refs("tags", repo.tags),
                "pullRequests": [],
            },
        )

    def _create_commit(self, repo_id: str, repo: Repo, rev: str, body: bytes) -> None:
        branch = unquote(rev)
        if branch not in repo.branches:
            return self._error(404, "RevisionNotFound", f"no branch {branch}")
        files = dict(repo.commits[repo.branches[branch]])
        header = {}
        for line in body.splitlines():
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                header = value
            elif key == "file":
                if value.get("encoding") != "base64":
                    return self._error(400, None, "only base64 file contents are supported")
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                files.pop(value["path"], None)
            else:
                return self._error(400, None, f"unsupported commit operation {key}")
        digest = hashlib.sha1(repo.branches[branch].encode())
        digest.update(json.dumps(header, sort_keys=True).encode())
        for p, d in sorted(files.items()):
            digest.update(f"{p}\0{git_blob_sha1(d)}\n".encode())
        oid = digest.hexdigest()
        repo.commits[oid] = files
        repo.branches[branch] = oid
        url = f"http://{self.headers['Host']}/datasets/{repo_id}/commit/{oid}"
        return self._json(200, {"commitUrl": url, "commitOid": oid, "pullRequestUrl": None})

    def _create_tag(self, repo: Repo, rev: str, payload: dict) -> None:
        oid = self._commit(repo, rev)
        if oid is None:
            return None
        if payload["tag"] in repo.tags:
            return self._error(409, None, f"Tag {payload['tag']} already exists")
        repo.tags[payload["tag"]] = oid
        return self._json(200, {"name": payload["tag"]})

    def _resolve(self, repo_id: str, rev: str, path: str) -> None:
        repo = self._repo(repo_id)
        if repo is None:
            return None
        oid = self._commit(repo, rev)
        if oid is None:
            return None
        data = repo.commits[oid].get(unquote(path))
        if data is None:
            return self._error(404, "EntryNotFound", f"{path} does not exist at {rev}")
        return self._send(
            200,
            data,
            {
                "Content-Type": "application/octet-stream",
                "ETag": f'"{git_blob_sha1(data)}"',
                "X-Repo-Commit": oid,
            },
        )


class HubServer:
    """Run the server on 127.0.0.1 in a thread: `with HubServer(token) as hub: hub.url`."""

    def __init__(self, token: str = "test-token") -> None:
        self.state = HubState(token)
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> HubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
