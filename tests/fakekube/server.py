"""The fake API server: object store, REST routing, dry run, conflicts, scale and eviction subresources."""

from __future__ import annotations

import copy
import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakekube.controllers import Controllers, Key, Obj, pod_ready
from tests.fakekube.patch import PatchError, json_patch, merge_patch, parse_selector, selector_matches, strategic_merge

KINDS = {"pods": "Pod", "nodes": "Node", "deployments": "Deployment", "statefulsets": "StatefulSet",
         "replicasets": "ReplicaSet", "daemonsets": "DaemonSet", "poddisruptionbudgets": "PodDisruptionBudget",
         "horizontalpodautoscalers": "HorizontalPodAutoscaler", "persistentvolumeclaims": "PersistentVolumeClaim",
         "jobs": "Job"}
CLUSTER_SCOPED = {"nodes"}
VERBS = {"GET": "get", "PATCH": "patch", "PUT": "update", "POST": "create", "DELETE": "delete"}


@dataclass(frozen=True)
class RecordedRequest:
    """One API request as RBAC sees it."""

    verb: str
    group: str
    resource: str
    subresource: str
    namespace: str | None
    name: str | None
    dry_run: bool


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def _status(code: int, reason: str, message: str) -> Obj:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason,
            "code": code}


def _parse_path(path: str) -> tuple[str, str | None, str, str | None, str]:
    """-> group, namespace, resource, name, subresource."""
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        raise ApiError(404, "NotFound", f"no route {path}")
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not rest or rest[0] not in KINDS:
        raise ApiError(404, "NotFound", f"unknown resource in {path}")
    return group, namespace, rest[0], rest[1] if len(rest) > 1 else None, rest[2] if len(rest) > 2 else ""


class FakeKube:
    """Holds cluster state and serves it over HTTP on 127.0.0.1. Use as a context manager."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or (lambda: datetime.now(UTC))
        self.objects: dict[Key, Obj] = {}
        self.requests: list[RecordedRequest] = []
        self.lock = threading.RLock()
        self._rv = itertools.count(1)
        self._suffix = itertools.count(1)
        self.controllers = Controllers(self.objects, self._now, lambda: f"p{next(self._suffix)}")
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    def _now(self) -> str:
        return self.clock().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    # --- state -------------------------------------------------------------------------------------
    def put(self, group: str, resource: str, obj: Obj) -> Obj:
        """Create or replace an object directly (test set-up); controllers run afterwards."""
        with self.lock:
            meta = obj.setdefault("metadata", {})
            meta["resourceVersion"] = str(next(self._rv))
            meta.setdefault("generation", 1)
            meta.setdefault("uid", f"uid-{meta['name']}")
            obj.setdefault("kind", KINDS[resource])
            key: Key = (group, resource, meta.get("namespace"), meta["name"])
            self.objects[key] = obj
            self.controllers.reconcile()
            return obj

    def get(self, group: str, resource: str, namespace: str | None, name: str) -> Obj | None:
        with self.lock:
            found = self.objects.get((group, resource, namespace, name))
            return copy.deepcopy(found) if found is not None else None

    def list(self, group: str, resource: str, namespace: str | None = None) -> list[Obj]:
        with self.lock:
            return [copy.deepcopy(o) for k, o in sorted(self.objects.items(), key=lambda kv: kv[0][3])
                    if k[:2] == (group, resource) and (namespace is None or k[2] == namespace)]

    # --- HTTP ----------------------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, content_type: str, body: bytes) -> tuple[int, Obj]:
        url = urlsplit(raw_path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        try:
            group, namespace, resource, name, sub = _parse_path(url.path)
            dry_run = "dryRun" in query
            if dry_run and query["dryRun"] != "All":
                raise ApiError(400, "BadRequest", f"invalid dryRun {query['dryRun']!r}")
            verb = "list" if method == "GET" and name is None else VERBS[method]
            with self.lock:
                self.requests.append(RecordedRequest(verb, group, resource, sub, namespace, name, dry_run))
                return self._dispatch(verb, group, namespace, resource, name, sub, query, content_type, body,
                                      dry_run)
        except ApiError as exc:
            return exc.code, _status(exc.code, exc.reason, exc.message)
        except (PatchError, ValueError, KeyError, TypeError) as exc:
            return 422, _status(422, "Invalid", str(exc))

    def _dispatch(self, verb: str, group: str, namespace: str | None, resource: str, name: str | None,
                  sub: str, query: dict[str, str], content_type: str, body: bytes, dry_run: bool) -> tuple[int, Obj]:
        if verb == "list":
            return 200, self._list(group, resource, namespace, query)
        if verb == "create" and name is None:
            return self._create(group, resource, namespace, json.loads(body or b"null"), dry_run)
        assert name is not None
        key: Key = (group, resource, None if resource in CLUSTER_SCOPED else namespace, name)
        current = self.objects.get(key)
        if current is None:
            raise ApiError(404, "NotFound", f'{resource} "{name}" not found')
        if sub == "eviction" and verb == "create":
            return self._evict(key, current, dry_run)
        if sub == "scale":
            return self._scale(verb, key, current, content_type, body, dry_run)
        if sub:
            raise ApiError(404, "NotFound", f"subresource {sub} not served")
        if verb == "get":
            return 200, copy.deepcopy(current)
        if verb == "delete":
            if not dry_run:
                del self.objects[key]
                self.controllers.reconcile()
            return 200, copy.deepcopy(current)
        if verb in ("patch", "update"):
            updated = self._patched(current, verb, content_type, json.loads(body or b"null"))
            return 200, self._write(key, current, updated, dry_run)
        raise ApiError(405, "MethodNotAllowed", f"{verb} {resource}")

    def _list(self, group: str, resource: str, namespace: str | None, query: dict[str, str]) -> Obj:
        labels = parse_selector(query.get("labelSelector", ""))
        fields = dict(p.split("=", 1) for p in query.get("fieldSelector", "").split(",") if p)
        unknown = set(fields) - {"spec.nodeName", "metadata.name", "metadata.namespace"}
        if unknown:
            raise ApiError(400, "BadRequest", f"field selector {sorted(unknown)} not supported")
        items = [o for o in self.list(group, resource, namespace)
                 if selector_matches(labels, o["metadata"].get("labels", {}))
                 and all(_field(o, f) == v for f, v in fields.items())]
        return {"kind": f"{KINDS[resource]}List", "apiVersion": "v1", "items": items,
                "metadata": {"resourceVersion": str(next(self._rv))}}

    def _create(self, group: str, resource: str, namespace: str | None, body: Any,
                dry_run: bool) -> tuple[int, Obj]:
        """POST to a collection: 409 AlreadyExists when the name is taken, 422 for a Job the API would refuse."""
        if resource not in CREATABLE:
            raise ApiError(405, "MethodNotAllowed", f"create {resource} not served")
        if not isinstance(body, dict) or not body.get("metadata", {}).get("name"):
            raise ApiError(422, "Invalid", "metadata.name: Required value")
        meta = body["metadata"]
        if meta.get("namespace", namespace) != namespace:
            raise ApiError(400, "BadRequest", "the namespace of the object does not match the request's")
        key: Key = (group, resource, None if resource in CLUSTER_SCOPED else namespace, meta["name"])
        if key in self.objects:
            raise ApiError(409, "AlreadyExists", f'{resource}.{group} "{meta["name"]}" already exists')
        CREATABLE[resource](body)
        created = copy.deepcopy(body)
        created["metadata"].update({"namespace": namespace, "uid": f"uid-{meta['name']}", "generation": 1,
                                    "creationTimestamp": self._now()})
        created["metadata"]["resourceVersion"] = str(next(self._rv))
        created.setdefault("kind", KINDS[resource])
        if dry_run:
            return 201, created
        self.objects[key] = created
        self.controllers.reconcile()
        return 201, copy.deepcopy(self.objects[key])

    def _patched(self, current: Obj, verb: str, content_type: str, body: Any) -> Obj:
        if verb == "update":
            return dict(body)
        kind = content_type.split(";")[0].strip()
        if kind == "application/strategic-merge-patch+json":
            return dict(strategic_merge(current, body))
        if kind == "application/merge-patch+json":
            return dict(merge_patch(current, body))
        if kind == "application/json-patch+json":
            return dict(json_patch(current, body))
        raise ApiError(415, "UnsupportedMediaType", f"unsupported patch type {kind!r}")

    def _write(self, key: Key, current: Obj, updated: Obj, dry_run: bool) -> Obj:
        sent_rv = updated.get("metadata", {}).get("resourceVersion")
        if sent_rv is not None and sent_rv != current["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {key[1]} "{key[3]}": the object '
                           "has been modified; please apply your changes to the latest version and try again")
        updated = copy.deepcopy(updated)
        meta = updated.setdefault("metadata", {})
        for keep in ("name", "namespace", "uid"):
            if keep in current["metadata"]:
                meta[keep] = current["metadata"][keep]
        generation = current["metadata"].get("generation", 1)
        meta["generation"] = generation + (1 if updated.get("spec") != current.get("spec") else 0)
        meta["resourceVersion"] = str(next(self._rv)) if not dry_run else current["metadata"]["resourceVersion"]
        if dry_run:
            return updated
        self.objects[key] = updated
        self.controllers.reconcile()
        return copy.deepcopy(self.objects[key])

    def _scale(self, verb: str, key: Key, current: Obj, content_type: str, body: bytes,
               dry_run: bool) -> tuple[int, Obj]:
        scale = {"apiVersion": "autoscaling/v1", "kind": "Scale",
                 "metadata": {"name": key[3], "namespace": key[2],
                              "resourceVersion": current["metadata"]["resourceVersion"]},
                 "spec": {"replicas": current["spec"].get("replicas", 1)},
                 "status": {"replicas": current.get("status", {}).get("replicas", 0)}}
        if verb == "get":
            return 200, scale
        if verb not in ("patch", "update"):
            raise ApiError(405, "MethodNotAllowed", f"{verb} scale")
        wanted = self._patched(scale, verb, content_type, json.loads(body or b"null"))
        replicas = wanted.get("spec", {}).get("replicas")
        if not isinstance(replicas, int) or replicas < 0:
            raise ApiError(422, "Invalid", f"spec.replicas: Invalid value: {replicas!r}")
        workload = copy.deepcopy(current)
        workload["spec"]["replicas"] = replicas
        workload["metadata"]["resourceVersion"] = wanted["metadata"].get("resourceVersion",
                                                                          current["metadata"]["resourceVersion"])
        written = self._write(key, current, workload, dry_run)
        return 200, {**scale, "spec": {"replicas": written["spec"]["replicas"]},
                     "metadata": {**scale["metadata"], "resourceVersion": written["metadata"]["resourceVersion"]}}

    def _evict(self, key: Key, pod: Obj, dry_run: bool) -> tuple[int, Obj]:
        namespace = key[2]
        labels = pod["metadata"].get("labels", {})
        for pdb in self.list("policy", "poddisruptionbudgets", namespace):
            selector = pdb["spec"].get("selector", {}).get("matchLabels", {})
            if not all(labels.get(k) == v for k, v in selector.items()):
                continue
            healthy = sum(1 for p in self.list("", "pods", namespace)
                          if pod_ready(p) and all(p["metadata"].get("labels", {}).get(k) == v
                                                  for k, v in selector.items()))
            if healthy - (1 if pod_ready(pod) else 0) < int(pdb["spec"].get("minAvailable", 0)):
                raise ApiError(429, "TooManyRequests",
                               "Cannot evict pod as it would violate the pod's disruption budget.")
        if not dry_run:
            del self.objects[key]
            self.controllers.reconcile()
        return 201, {"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201}

    def __enter__(self) -> FakeKube:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                code, payload = fake.handle(self.command, self.path, self.headers.get("Content-Type", ""), body)
                data = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _validate_job(job: Obj) -> None:
    """What the API server's validation of a batch/v1 Job would refuse, in the parts the remediator sets."""
    pod = job.get("spec", {}).get("template", {}).get("spec", {})
    if not pod.get("containers"):
        raise ApiError(422, "Invalid", "spec.template.spec.containers: Required value")
    if pod.get("restartPolicy") not in ("Never", "OnFailure"):
        raise ApiError(422, "Invalid", 'spec.template.spec.restartPolicy: Unsupported value: must be "Never" '
                       'or "OnFailure"')
    for container in pod["containers"]:
        if not container.get("name") or not container.get("image"):
            raise ApiError(422, "Invalid", "spec.template.spec.containers: name and image are required")


#: Resources a client may POST to their collection, with the validation the API server would apply.
CREATABLE: dict[str, Callable[[Obj], None]] = {"jobs": _validate_job}


def _field(obj: Obj, path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part, "") if isinstance(node, dict) else ""
    return str(node)
