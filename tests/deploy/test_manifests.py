"""The Kubernetes manifests and the image for Tocsin itself: schema-valid, N replicas on PostgreSQL, in line with
the code (config, probes, ports, Secrets) and with the Dockerfile (wheel built once, non-root UID)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from webhook.app import create_app
from webhook.config import TocsinConfig
from webhook.yamlpos import ConfigError

REPO = Path(__file__).resolve().parents[2]


def docs(path: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((REPO / path).read_text()) if d]


def test_embedded_config_is_valid_and_reads_secrets_from_files() -> None:
    cm = next(d for d in docs("deploy/kubernetes/tocsin.yaml") if d["kind"] == "ConfigMap")
    cfg = TocsinConfig(**yaml.safe_load(cm["data"]["tocsin.yaml"]))
    assert cfg.auth.webhook.bearer_token_files and cfg.auth.api_tokens[0].token_file is not None
    assert cfg.server.host == "0.0.0.0" and cfg.server.port == 8080
    # the token files exist only in the cluster: here the error must name them
    with pytest.raises(ConfigError, match="/etc/tocsin/tokens/webhook-token"):
        create_app(cfg)


def test_probes_ports_and_service_account_match() -> None:
    by_kind = {d["kind"]: d for d in docs("deploy/kubernetes/tocsin.yaml")}
    pod = by_kind["Deployment"]["spec"]["template"]["spec"]
    c = pod["containers"][0]
    routes = set(create_app(TocsinConfig(**{
        "auth": {"webhook": {"bearer_tokens": ["x" * 20]}, "api_tokens": [{"name": "a", "token": "y" * 20}]}
    })).openapi()["paths"])
    assert c["readinessProbe"]["httpGet"]["path"] in routes
    assert c["livenessProbe"]["httpGet"]["path"] in routes
    assert c["ports"][0]["containerPort"] == 8080
    rbac = docs("deploy/kubernetes/rbac.yaml")
    accounts = {(d["metadata"]["name"], d["metadata"]["namespace"]) for d in rbac if d["kind"] == "ServiceAccount"}
    assert (pod["serviceAccountName"], by_kind["Deployment"]["metadata"]["namespace"]) in accounts


def test_alertmanager_posts_to_the_service_in_the_manifest() -> None:
    am = yaml.safe_load((REPO / "deploy/alertmanager/alertmanager.yml").read_text())
    svc = next(d for d in docs("deploy/kubernetes/tocsin.yaml") if d["kind"] == "Service")
    hooks = [w["url"] for r in am["receivers"] for w in r.get("webhook_configs", [])]
    urls = {u for u in hooks if u.endswith("/webhook/alertmanager")}
    port = svc["spec"]["ports"][0]["port"]
    assert urls and all(u == f"http://{svc['metadata']['name']}:{port}/webhook/alertmanager" for u in urls)


# --- schema validation -------------------------------------------------------------------------------------

#: Validated against the oldest Kubernetes release the manifests support and the newest the package ships
#: (pinned, so that a kubernetes-validate upgrade does not silently change what is checked).
KUBERNETES_VERSIONS = ("1.30", "1.37")
#: Custom resources: the package has no schema for them (the Prometheus operator's CRD defines them).
CRD_KINDS = {("monitoring.coreos.com/v1", "PrometheusRule")}
MANIFESTS = sorted((REPO / "deploy/kubernetes").rglob("*.yaml"))


def all_documents() -> list[tuple[str, dict[str, Any]]]:
    return [(str(p.relative_to(REPO)), d) for p in MANIFESTS for d in yaml.safe_load_all(p.read_text()) if d]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_validates_strictly_against_the_kubernetes_schema(version: str) -> None:
    import kubernetes_validate

    skipped: set[tuple[str, str]] = set()
    errors: list[str] = []
    documents = all_documents()
    for path, doc in documents:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            skipped.add((doc["apiVersion"], doc["kind"]))
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            errors.append(f"{path}: {doc['kind']}/{doc['metadata']['name']}: {where}: {exc.message}")
    assert not errors, "\n".join(errors)
    # only the custom resources go unchecked, and every built-in kind the manifests use was checked
    assert skipped == CRD_KINDS
    checked = {d["kind"] for _, d in documents if (d["apiVersion"], d["kind"]) not in CRD_KINDS}
    assert {"ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "Secret", "ServiceAccount",
            "ClusterRole", "ClusterRoleBinding"} <= checked


def test_strict_validation_refuses_unknown_fields_and_wrong_types() -> None:
    """The check above is not vacuous: a misspelt field or a wrong type in the Deployment fails it."""
    import kubernetes_validate

    deployment = next(d for d in docs("deploy/kubernetes/tocsin.yaml") if d["kind"] == "Deployment")
    typo = yaml.safe_load(yaml.safe_dump(deployment))
    c = typo["spec"]["template"]["spec"]["containers"][0]
    c["readinesProbe"] = c.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError, match="readinesProbe"):
        kubernetes_validate.validate(typo, KUBERNETES_VERSIONS[0], strict=True)
    wrong = yaml.safe_load(yaml.safe_dump(deployment))
    wrong["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(wrong, KUBERNETES_VERSIONS[0], strict=True)


# --- N replicas on PostgreSQL ------------------------------------------------------------------------------


def tocsin_objects() -> dict[str, dict[str, Any]]:
    return {d["kind"]: d for d in docs("deploy/kubernetes/tocsin.yaml")}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, "only matchLabels selectors are checked here"
    return bool(selector["matchLabels"]) and selector["matchLabels"].items() <= labels.items()


def test_replicas_rollout_and_disruption_budget_keep_two_ready() -> None:
    objs = tocsin_objects()
    dep, pdb = objs["Deployment"], objs["PodDisruptionBudget"]
    replicas = dep["spec"]["replicas"]
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    assert replicas >= 3
    assert selects(dep["spec"]["selector"], pod_labels)
    # the rollout adds a new pod before it removes an old one
    assert dep["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    # the PDB selects exactly the Deployment's pods, in its namespace, and lets a drain evict one at a time
    assert pdb["metadata"]["namespace"] == dep["metadata"]["namespace"]
    assert pdb["spec"]["selector"] == dep["spec"]["selector"]
    spec = pdb["spec"]
    min_available = spec["minAvailable"] if "minAvailable" in spec else replicas - spec["maxUnavailable"]
    assert 2 <= min_available < replicas
    # the Service sends to the same pods
    assert selects({"matchLabels": objs["Service"]["spec"]["selector"]}, pod_labels)


def test_replicas_prefer_different_nodes() -> None:
    dep = tocsin_objects()["Deployment"]
    pod = dep["spec"]["template"]["spec"]
    terms = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert any(t["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
               and selects(t["podAffinityTerm"]["labelSelector"], labels) for t in terms)
    assert all(selects(c["labelSelector"], labels) for c in pod.get("topologySpreadConstraints", []))


def test_probes_use_readyz_and_healthz_and_resources_are_bounded() -> None:
    pod = tocsin_objects()["Deployment"]["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    # liveness must not depend on the database: an outage would restart every replica at once
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    startup = c["startupProbe"]
    assert startup["httpGet"]["path"] == "/healthz"
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120  # room for migrations at start
    assert {"cpu", "memory"} <= set(c["resources"]["requests"]) and "memory" in c["resources"]["limits"]
    # uvicorn's graceful shutdown (5 s, webhook/cli.py) plus the preStop pause fit in the grace period
    assert pod["terminationGracePeriodSeconds"] >= 5 + int(c["lifecycle"]["preStop"]["exec"]["command"][1])


def example_secrets() -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs("deploy/kubernetes/secret.example.yaml")}


def test_database_url_comes_from_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    objs = tocsin_objects()
    (c,) = objs["Deployment"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in c["env"]}
    ref = env["TOCSIN_DATABASE__URL"]["valueFrom"]["secretKeyRef"]
    assert ref.get("optional", False) is False  # no Secret, no pod: never a private SQLite file per replica
    secret = example_secrets()[ref["name"]]
    assert secret["metadata"]["namespace"] == objs["Deployment"]["metadata"]["namespace"]
    url = secret["stringData"][ref["key"]]
    assert url.startswith("postgresql+psycopg://")
    # the config file leaves the URL empty; the variable is the one pydantic-settings reads for database.url
    file_cfg = yaml.safe_load(objs["ConfigMap"]["data"]["tocsin.yaml"])
    assert file_cfg["database"]["url"] == ""
    monkeypatch.setenv("TOCSIN_DATABASE__URL", url)
    cfg = TocsinConfig(**file_cfg)
    assert cfg.database_url() == url and cfg.database.auto_migrate


def test_token_secret_provides_the_files_the_config_reads(tmp_path: Path) -> None:
    objs = tocsin_objects()
    pod = objs["Deployment"]["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    cfg = TocsinConfig(**yaml.safe_load(objs["ConfigMap"]["data"]["tocsin.yaml"]))
    files = [*cfg.auth.webhook.bearer_token_files, *(t.token_file for t in cfg.auth.api_tokens if t.token_file)]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: volumes[m["name"]] for m in c["volumeMounts"]}
    secrets = example_secrets()
    for f in files:
        vol = mounts[str(f.parent)]
        assert f.name in secrets[vol["secret"]["secretName"]]["stringData"], f
    # the example's placeholders are refused, so applying the example as it is cannot run with a known token
    from webhook.auth import resolve_credentials

    tokens = secrets["tocsin-tokens"]["stringData"]
    for name, value in tokens.items():
        (tmp_path / name).write_text(value)
    local = cfg.model_copy(update={"auth": cfg.auth.model_copy(update={
        "webhook": cfg.auth.webhook.model_copy(update={"bearer_token_files": [tmp_path / "webhook-token"]}),
        "api_tokens": [t.model_copy(update={"token_file": tmp_path / t.token_file.name})
                       for t in cfg.auth.api_tokens if t.token_file]})})
    with pytest.raises(ConfigError, match="shorter than 16"):
        resolve_credentials(local)


# --- the image ---------------------------------------------------------------------------------------------


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions (continuations joined, comments dropped), one list per FROM."""
    text = (REPO / "deploy/docker/Dockerfile").read_text()
    logical, buf = [], ""
    for line in text.splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        buf += line.rstrip("\\").strip() + " " if line.endswith("\\") else line.strip()
        if not line.endswith("\\"):
            logical.append(buf)
            buf = ""
    stages: list[list[tuple[str, str]]] = []
    for ins in logical:
        word, _, rest = ins.partition(" ")
        if word.upper() == "FROM":
            stages.append([])
        stages[-1].append((word.upper(), rest.strip()))
    return stages


def dockerfile_user() -> int:
    users = [rest for ins, rest in dockerfile_stages()[-1] if ins == "USER"]
    assert users, "the runtime stage sets no USER: it would run as root"
    uid = users[-1].split(":")[0]
    assert uid.isdigit(), f"USER {users[-1]}: numeric, so that runAsNonRoot can verify it"
    return int(uid)


def test_dockerfile_builds_the_wheel_once_and_installs_it_in_the_runtime_stage() -> None:
    build, *_, runtime = dockerfile_stages()
    assert "AS build" in build[0][1]
    runs = {i: [rest for ins, rest in stage if ins == "RUN"] for i, stage in enumerate((build, runtime))}
    wheels = [r for r in runs[0] if "pip wheel" in r]
    assert len(wheels) == 1 and "--no-deps" in wheels[0] and wheels[0].rstrip().endswith(" .")
    # the runtime stage installs that wheel (with its dependencies) and builds nothing from the sources
    assert any(rest.startswith("--from=build ") for ins, rest in runtime if ins == "COPY")
    assert any("pip install" in r and ".whl" in r for r in runs[1])
    assert not any("pip wheel" in r or r.rstrip().endswith(" .") for r in runs[1])
    assert not any(rest.split()[0] in {"webhook", "remediator", "."} for ins, rest in runtime if ins == "COPY")


def test_dockerfile_runs_tocsin_as_the_non_root_uid_of_the_deployment() -> None:
    runtime = dockerfile_stages()[-1]
    uid = dockerfile_user()
    assert uid > 0
    assert [rest for ins, rest in runtime if ins == "ENTRYPOINT"] == ['["tocsin"]']
    pyproject = (REPO / "pyproject.toml").read_text()
    assert 'tocsin = "webhook.cli:main"' in pyproject  # the console script the ENTRYPOINT runs
    pod = tocsin_objects()["Deployment"]["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == uid
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert [rest for ins, rest in runtime if ins == "EXPOSE"] == [str(c["ports"][0]["containerPort"])]
    # a read-only root file system: server.var_dir is a writable volume
    cfg = TocsinConfig(**yaml.safe_load(tocsin_objects()["ConfigMap"]["data"]["tocsin.yaml"]))
    volumes = {v["name"]: v for v in pod["volumes"]}
    var = next(m for m in c["volumeMounts"] if m["mountPath"] == str(cfg.server.var_dir))
    assert not var.get("readOnly", False) and "emptyDir" in volumes[var["name"]]
