"""A small Hugging Face Hub-compatible HTTP server, for tests only.

It implements just the endpoints the real `huggingface_hub` client calls for
`factory publish / pull / lineage` (dataset repos only), in memory:

    POST /api/repos/create                         create a repo (409 if it exists)
    POST /api/validate-yaml                        README metadata check (YAML must parse)
    GET  /api/datasets/{repo}/refs                 branches and tags
    POST /api/datasets/{repo}/preupload/{rev}      "lfs" for binary files over a threshold
    POST /datasets/{repo}.git/info/lfs/objects/batch   LFS batch: upload (+verify) actions
    PUT  /lfs-upload/{oid}                         basic LFS transfer (one PUT)
    PUT  /lfs-upload/{oid}/part/{n}                multipart transfer, one part (ETag back)
    POST /lfs-upload/{oid}/complete                multipart completion (parts by ETag)
    POST /datasets/{repo}.git/info/lfs/objects/verify  the object is stored, right size
    POST /api/datasets/{repo}/commit/{rev}         NDJSON commit: base64 files + lfsFile
    POST /api/datasets/{repo}/tag/{rev}            create a tag (409 if it exists)
    GET  /api/datasets/{repo}/revision/{rev}       repo info at a revision
    GET  /api/datasets/{repo}/tree/{rev}[/path]    file listing
    HEAD/GET /datasets/{repo}/resolve/{rev}/{path} file metadata and download

Large files go the LFS way, as on the Hub: preupload answers "lfs" for a binary file
(a NUL byte in its sample) of at least `HubState.lfs_threshold` bytes, and "regular" for
the rest. The client then asks the batch endpoint for upload actions, PUTs the bytes
(one PUT, or parts of `lfs_chunk_size` when the file is larger than that: the client's
multipart path), has them verified, and commits an `lfsFile` pointer (sha256 oid). A
stored object's sha256 must equal its oid. Downloads of LFS files answer like the Hub:
`X-Linked-Etag` (the sha256) and `X-Linked-Size`, and a redirect to the object's storage
URL (`/lfs-objects/{oid}`, standing in for the CDN). No response carries Xet headers
(the tests set HF_HUB_DISABLE_XET). Errors carry the Hub's `X-Error-Code` headers so the client
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
    lfs: dict[str, dict[str, str]] = field(default_factory=dict)  # commit -> path -> sha256

    def resolve(self, rev: str) -> str | None:
        if rev in self.branches:
            return self.branches[rev]
        if rev in self.tags:
            return self.tags[rev]
        return rev if rev in self.commits else None


class HubState:
    """All repos, keyed by 'org/name'. Tests may reach in (e.g. `tamper`)."""

    def __init__(
        self, token: str, lfs_threshold: int = 1024, lfs_chunk_size: int | None = None
    ) -> None:
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.lock = threading.Lock()
        self.calls: list[str] = []
        self.lfs_threshold = lfs_threshold  # binary files this size or more go LFS
        self.lfs_chunk_size = lfs_chunk_size  # larger files: multipart in chunks of this
        self.lfs_objects: dict[str, bytes] = {}  # sha256 -> bytes (the LFS storage)
        self.lfs_parts: dict[tuple[str, int], bytes] = {}  # multipart uploads in progress
        self.lfs_uploads: list[tuple[str, str]] = []  # (oid, "basic" | "multipart") done
        self.storage_url = ""  # the LFS storage origin (set by HubServer)

    def tamper(self, repo_id: str, rev: str, path: str, data: bytes) -> None:
        """Replace a stored file's bytes in place (simulates corruption on the server)."""
        repo = self.repos[repo_id]
        commit = repo.resolve(rev)
        repo.commits[commit][path] = data
        oid = repo.lfs.get(commit, {}).get(path)
        if oid is not None:  # an LFS file: corrupt the stored object
            self.lfs_objects[oid] = data

    def lfs_paths(self, repo_id: str, rev: str) -> dict[str, str]:
        """The LFS files (path -> sha256) of a repo at a revision."""
        repo = self.repos[repo_id]
        return dict(repo.lfs.get(repo.resolve(rev), {}))


API = re.compile(
    r"^/api/datasets/([^/]+/[^/]+)/(refs|preupload|commit|tag|revision|tree)(?:/(.*))?$"
)
RESOLVE = re.compile(r"^/datasets/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")
LFS_API = re.compile(r"^/datasets/([^/]+/[^/]+)\.git/info/lfs/objects/(batch|verify)$")
LFS_UPLOAD = re.compile(r"^/lfs-upload/([0-9a-f]{64})(?:/part/(\d+)|/(complete))?$")
LFS_OBJECT = re.compile(r"^/lfs-objects/([0-9a-f]{64})$")


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The git-lfs pointer file git stores in place of an LFS file's bytes."""
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()
    )


def is_binary(sample: bytes) -> bool:
    """The Hub's test: a NUL byte in the first bytes of the file."""
    return b"\0" in sample


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
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _base(self) -> str:
        return f"http://{self.headers['Host']}"

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
            if m := LFS_API.match(path):
                return self._lfs_api(m.group(1), m.group(2), json.loads(body))
            if (m := LFS_UPLOAD.match(path)) and m.group(3):
                return self._lfs_complete(m.group(1), json.loads(body))
            m = API.match(path)
            if not m:
                return self._error(404, None, f"no route {path}")
            repo_id, action, rest = m.groups()
            repo = self._repo(repo_id, write=True)
            if repo is None:
                return None
            if action == "preupload":
                return self._preupload(json.loads(body)["files"])
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
            if m := LFS_OBJECT.match(path):
                data = self.state.lfs_objects.get(m.group(1))
                if data is None:
                    return self._error(404, "EntryNotFound", "no such LFS object")
                return self._send(200, data, {"Content-Type": "application/octet-stream"})
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
                recursive = "recursive=true" in (urlsplit(self.path).query or "").lower()
                return self._tree(repo, oid, unquote(sub).rstrip("/"), recursive)
            return self._error(405, None, f"GET not allowed on {action}")

    do_HEAD = do_GET

    def do_PUT(self) -> None:
        path = urlsplit(self.path).path
        self.state.calls.append(f"PUT {path}")
        body = self._body()
        with self.state.lock:
            m = LFS_UPLOAD.match(path)
            if not m or m.group(3):
                return self._error(404, None, f"no route PUT {path}")
            oid, part = m.group(1), m.group(2)
            if part is not None:  # one part of a multipart upload: S3 answers an ETag
                self.state.lfs_parts[(oid, int(part))] = body
                return self._send(200, b"", {"ETag": f'"{hashlib.md5(body).hexdigest()}"'})
            return self._store_lfs(oid, body, "basic")

    # -- endpoints -----------------------------------------------------------------------
    def _tree(self, repo: Repo, oid: str, prefix: str, recursive: bool) -> None:
        """The Hub's listing: direct children (files and folders), or every file below."""
        files, lfs = repo.commits[oid], repo.lfs.get(oid, {})
        below = {p: d for p, d in files.items() if not prefix or p.startswith(prefix + "/")}
        if recursive:
            return self._json(
                200, [self._tree_entry(p, d, lfs.get(p)) for p, d in sorted(below.items())]
            )
        start = len(prefix) + 1 if prefix else 0
        entries, folders = [], set()
        for p, d in sorted(below.items()):
            head, sep, _ = p[start:].partition("/")
            if sep:
                folders.add(p[:start] + head)
            else:
                entries.append(self._tree_entry(p, d, lfs.get(p)))
        entries += [
            {"type": "directory", "path": f, "oid": hashlib.sha1(f.encode()).hexdigest()}
            for f in sorted(folders)
        ]
        return self._json(200, entries)

    @staticmethod
    def _tree_entry(path: str, data: bytes, sha256: str | None) -> dict:
        if sha256 is None:
            return {"type": "file", "path": path, "size": len(data), "oid": git_blob_sha1(data)}
        pointer = lfs_pointer(sha256, len(data))
        return {
            "type": "file",
            "path": path,
            "size": len(data),
            "oid": git_blob_sha1(pointer),
            "lfs": {"oid": sha256, "size": len(data), "pointerSize": len(pointer)},
        }

    # -- LFS ---------------------------------------------------------------------------
    def _preupload(self, files: list[dict]) -> None:
        def mode(f: dict) -> str:
            big = f["size"] >= self.state.lfs_threshold
            return "lfs" if big and is_binary(base64.b64decode(f.get("sample", ""))) else "regular"

        return self._json(
            200,
            {
                "files": [
                    {"path": f["path"], "uploadMode": mode(f), "shouldIgnore": False} for f in files
                ]
            },
        )

    def _lfs_api(self, repo_id: str, action: str, payload: dict) -> None:
        if self._repo(repo_id, write=True) is None:
            return None
        if action == "verify":
            data = self.state.lfs_objects.get(payload.get("oid", ""))
            if data is None or len(data) != payload.get("size"):
                return self._error(404, None, f"LFS object {payload.get('oid')} not stored")
            return self._json(200, {"message": "Everything good"})
        if payload.get("operation") != "upload" or payload.get("hash_algo") != "sha256":
            return self._error(400, None, "only sha256 uploads are supported")
        storage = self.state.storage_url
        verify = {"href": f"{self._base()}/datasets/{repo_id}.git/info/lfs/objects/verify"}
        objects, chunk = [], self.state.lfs_chunk_size
        for obj in payload["objects"]:
            oid, size = obj["oid"], obj["size"]
            entry: dict = {"oid": oid, "size": size}
            if oid not in self.state.lfs_objects:  # already stored: no actions
                upload: dict = {"href": f"{storage}/lfs-upload/{oid}"}
                if chunk and size > chunk:
                    parts = -(-size // chunk)
                    upload = {
                        "href": f"{storage}/lfs-upload/{oid}/complete",
                        "header": {
                            "chunk_size": str(chunk),
                            **{
                                f"{n:05d}": f"{storage}/lfs-upload/{oid}/part/{n}"
                                for n in range(1, parts + 1)
                            },
                        },
                    }
                entry["actions"] = {"upload": upload, "verify": verify}
            objects.append(entry)
        return self._json(200, {"transfer": "basic", "objects": objects})

    def _lfs_complete(self, oid: str, payload: dict) -> None:
        parts = []
        for p in sorted(payload.get("parts", []), key=lambda p: p["partNumber"]):
            data = self.state.lfs_parts.pop((oid, p["partNumber"]), None)
            if data is None or p["etag"].strip('"') != hashlib.md5(data).hexdigest():
                return self._error(400, None, f"part {p['partNumber']} of {oid}: bad ETag")
            parts.append(data)
        return self._store_lfs(oid, b"".join(parts), "multipart")

    def _store_lfs(self, oid: str, data: bytes, how: str) -> None:
        if hashlib.sha256(data).hexdigest() != oid:
            return self._error(400, None, f"LFS object {oid}: content sha256 differs from oid")
        self.state.lfs_objects[oid] = data
        self.state.lfs_uploads.append((oid, how))
        return self._send(200)

    # -- repos ---------------------------------------------------------------------------
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
        lfs = dict(repo.lfs.get(repo.branches[branch], {}))
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
                lfs.pop(value["path"], None)
            elif key == "lfsFile":
                data = self.state.lfs_objects.get(value["oid"])
                if value.get("algo") != "sha256" or data is None:
                    return self._error(400, None, f"{value['path']}: LFS object not uploaded")
                files[value["path"]] = data
                lfs[value["path"]] = value["oid"]
            elif key == "deletedFile":
                files.pop(value["path"], None)
                lfs.pop(value["path"], None)
            else:
                return self._error(400, None, f"unsupported commit operation {key}")
        digest = hashlib.sha1(repo.branches[branch].encode())
        digest.update(json.dumps(header, sort_keys=True).encode())
        for p, d in sorted(files.items()):
            digest.update(f"{p}\0{git_blob_sha1(d)}\n".encode())
        oid = digest.hexdigest()
        repo.commits[oid] = files
        repo.lfs[oid] = lfs
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
        sha = repo.lfs.get(oid, {}).get(unquote(path))
        if sha is not None:  # like the Hub: metadata here, bytes from the storage host
            return self._send(
                302,
                b"",
                {
                    "Location": f"{self.state.storage_url}/lfs-objects/{sha}",
                    "ETag": f'"{git_blob_sha1(lfs_pointer(sha, len(data)))}"',
                    "X-Linked-Etag": f'"{sha}"',
                    "X-Linked-Size": str(len(data)),
                    "X-Repo-Commit": oid,
                },
            )
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

    def __init__(self, token: str = "test-token", **lfs: int | None) -> None:
        self.state = HubState(token, **lfs)
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        # LFS bytes live on another origin (the Hub's CDN / S3): the client must not follow
        # the Hub's redirect there with its token, and uploads go there without one.
        self.storage = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.state.storage_url = f"http://127.0.0.1:{self.storage.server_address[1]}"
        self.threads = [
            threading.Thread(target=server.serve_forever, daemon=True)
            for server in (self.httpd, self.storage)
        ]

    def __enter__(self) -> HubServer:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        for server in (self.httpd, self.storage):
            server.shutdown()
            server.server_close()
