"""Deployment files: the Helm chart as rendered by `helm template`, docker-compose.yml and the
Dockerfile.

The chart tests need helm: on PATH or in Go's bin folder (`.ci/helm.sh` installs it there). Outside
CI a missing helm skips them; in CI (CI set) it fails them.
"""

import base64
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "helm"
RELEASE = "flrepo"
EXTERNAL_URL = "mongodb://user:secret@mongodb.example.internal:27017/?authSource=admin"

Manifest = dict[str, Any]
Render = Callable[..., list[Manifest]]


@cache
def helm_binary() -> str | None:
    """helm from PATH, else from `go env GOBIN` / `$(go env GOPATH)/bin`."""
    if found := shutil.which("helm"):
        return found
    go = shutil.which("go")
    if not go:
        return None
    for var in ("GOBIN", "GOPATH"):
        try:
            value = subprocess.run(
                [go, "env", var], capture_output=True, text=True, check=True, timeout=60
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        for folder in value.split(os.pathsep) if value else []:
            candidate = Path(folder) / "bin" / "helm" if var == "GOPATH" else Path(folder) / "helm"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    return None


@pytest.fixture(scope="module")
def helm() -> str:
    found = helm_binary()
    if found:
        return found
    message = "helm not found on PATH or in Go's bin folder (run .ci/helm.sh to install it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def render(helm: str) -> Render:
    """`render("key=value", ...)`: the chart's manifests with those --set values."""

    def run(*sets: str) -> list[Manifest]:
        command = [helm, "template", RELEASE, str(CHART), "--namespace", "fl"]
        for value in sets:
            command += ["--set", value]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{shlex.join(command)}\n{result.stderr}"
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    return run


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def one(manifests: list[Manifest], kind: str, component: str | None = None) -> Manifest:
    found = [
        m
        for m in of_kind(manifests, kind)
        if component is None
        or m["metadata"].get("labels", {}).get("app.kubernetes.io/component") == component
    ]
    assert len(found) == 1, f"expected one {kind} {component or ''}, found {len(found)}"
    return found[0]


def container(workload: Manifest, name: str) -> Manifest:
    spec = workload["spec"]["template"]["spec"]
    (found,) = [c for c in spec["containers"] if c["name"] == name]
    return found


def env_var(c: Manifest, name: str) -> Manifest:
    (found,) = [e for e in c.get("env", []) if e["name"] == name]
    return found


def secret_value(manifests: list[Manifest], name: str, key: str) -> str:
    (secret,) = [m for m in of_kind(manifests, "Secret") if m["metadata"]["name"] == name]
    if "stringData" in secret and key in secret["stringData"]:
        return secret["stringData"][key]
    return base64.b64decode(secret["data"][key]).decode()


def mongodb_url(manifests: list[Manifest], c: Manifest) -> str:
    """The URL the container gets, following its secretKeyRef."""
    ref = env_var(c, "FLREPO_MONGODB_URL")["valueFrom"]["secretKeyRef"]
    return secret_value(manifests, ref["name"], ref["key"])


@pytest.fixture(scope="module")
def default(render: Render) -> list[Manifest]:
    return render()


@pytest.fixture(scope="module")
def external(render: Render) -> list[Manifest]:
    return render("mongodb.enabled=false", f"externalMongodb.url={EXTERNAL_URL}")


# --- the API server -----------------------------------------------------------


def test_api_probes_and_port(default: list[Manifest]) -> None:
    api = container(one(default, "Deployment"), "api")
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    ports = {p["name"]: p["containerPort"] for p in api["ports"]}
    assert ports == {"http": 9012}
    assert api["livenessProbe"]["httpGet"]["port"] in ("http", 9012)
    assert api["readinessProbe"]["httpGet"]["port"] in ("http", 9012)


def test_api_runs_two_replicas_spread_across_nodes(default: list[Manifest]) -> None:
    deployment = one(default, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    selector = deployment["spec"]["selector"]["matchLabels"]
    (spread,) = deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["maxSkew"] == 1
    assert spread["labelSelector"]["matchLabels"] == selector
    pdb = one(default, "PodDisruptionBudget", "api")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == selector


def test_api_probes_tolerate_load_and_resources_fit_the_memory_figures(
    default: list[Manifest],
) -> None:
    api = container(one(default, "Deployment"), "api")
    live = api["livenessProbe"]
    # A slow answer under load is not a dead process: over a minute before a restart.
    assert live["timeoutSeconds"] >= 10
    assert live["periodSeconds"] * live["failureThreshold"] >= 60
    assert api["readinessProbe"]["timeoutSeconds"] >= 5

    def mib(quantity: str) -> int:
        number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()
        return int(number) * (1024 if unit == "Gi" else 1)

    resources = api["resources"]
    # Measured peak of a large upload: about 270 MiB.
    assert mib(resources["requests"]["memory"]) >= 270
    assert mib(resources["limits"]["memory"]) >= 2 * 270
    assert "cpu" not in resources["limits"]


def test_api_service_is_node_port_30001(default: list[Manifest]) -> None:
    service = one(default, "Service", "api")
    assert service["spec"]["type"] == "NodePort"
    (port,) = service["spec"]["ports"]
    assert port["nodePort"] == 30001
    assert port["port"] == 9012
    assert port["targetPort"] in ("http", 9012)
    deployment = one(default, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_api_runs_as_non_root_with_read_only_root(default: list[Manifest]) -> None:
    deployment = one(default, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    api = container(deployment, "api")
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert api["securityContext"]["runAsNonRoot"] is True
    assert api["securityContext"]["readOnlyRootFilesystem"] is True
    assert api["securityContext"]["allowPrivilegeEscalation"] is False
    # The read-only root needs a writable /tmp for Python's temporary files.
    mounts = {m["mountPath"]: m["name"] for m in api["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


def test_api_env_from_config_map_and_url_from_secret(default: list[Manifest]) -> None:
    api = container(one(default, "Deployment"), "api")
    (source,) = api["envFrom"]
    config = one(default, "ConfigMap")
    assert source["configMapRef"]["name"] == config["metadata"]["name"]
    assert config["data"]["FLREPO_DB_NAME"] == "repository"
    assert config["data"]["FLREPO_GRID_DB_NAME"] == "repository_grid"
    assert config["data"]["FLREPO_MAX_UPLOAD_BYTES"] == str(8 * 1024**3)
    assert all(isinstance(v, str) for v in config["data"].values())
    assert "FLREPO_MONGODB_URL" not in config["data"]
    # The server creates indexes at startup, so it first waits for MongoDB.
    (wait,) = one(default, "Deployment")["spec"]["template"]["spec"]["initContainers"]
    assert mongodb_url(default, wait) == mongodb_url(default, api)
    url = env_var(api, "FLREPO_MONGODB_URL")
    assert "value" not in url
    assert "secretKeyRef" in url["valueFrom"]
    m = one(default, "Service", "mongodb")["metadata"]["name"]
    hosts = ",".join(rf"{m}-{i}\.{m}\.fl\.svc:27017" for i in range(3))
    assert re.fullmatch(
        rf"mongodb://root:[A-Za-z0-9]{{32}}@{hosts}/\?authSource=admin&replicaSet=rs0",
        mongodb_url(default, api),
    )


def test_config_map_renders_large_upload_limits_as_integers(render: Render) -> None:
    config = one(render("config.maxUploadBytes=21474836480"), "ConfigMap")
    assert config["data"]["FLREPO_MAX_UPLOAD_BYTES"] == "21474836480"


# --- access control ---------------------------------------------------------------


def test_anonymous_callers_may_read_and_write_by_default(default: list[Manifest]) -> None:
    config = one(default, "ConfigMap")["data"]
    assert config["FLREPO_ANONYMOUS_SCOPES"] == "read,write"
    assert config["FLREPO_CORS_ORIGINS"] == ""
    assert "FLREPO_ADMIN_TOKEN" not in config


def test_access_values_reach_the_config_map(render: Render) -> None:
    manifests = render("security.anonymousScopes=none", "security.corsOrigins=https://dash.example")
    config = one(manifests, "ConfigMap")["data"]
    assert config["FLREPO_ANONYMOUS_SCOPES"] == "none"
    assert config["FLREPO_CORS_ORIGINS"] == "https://dash.example"


def test_unknown_scopes_fail_the_rendering(helm: str) -> None:
    command = [helm, "template", RELEASE, str(CHART), "--set", "security.anonymousScopes=all"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "anonymousScopes" in result.stderr


def test_admin_token_comes_from_a_generated_secret(default: list[Manifest]) -> None:
    api = container(one(default, "Deployment"), "api")
    ref = env_var(api, "FLREPO_ADMIN_TOKEN")["valueFrom"]["secretKeyRef"]
    assert ref == {"name": f"{RELEASE}-admin-token", "key": "admin-token"}
    secret = secret_value(default, ref["name"], ref["key"])
    assert secret.startswith("flr_") and len(secret) >= 40
    # Not in the seed job: it only restores data.
    for job in of_kind(default, "Job"):
        for c in job["spec"]["template"]["spec"]["containers"]:
            assert all(e["name"] != "FLREPO_ADMIN_TOKEN" for e in c.get("env", []))


def test_admin_token_from_an_existing_secret_or_none(render: Render) -> None:
    existing = render(
        "security.adminToken.existingSecret=ops-tokens",
        "security.adminToken.existingSecretKey=flrepo",
    )
    api = container(one(existing, "Deployment"), "api")
    ref = env_var(api, "FLREPO_ADMIN_TOKEN")["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "ops-tokens", "key": "flrepo"}
    assert not [m for m in of_kind(existing, "Secret") if "admin-token" in m["metadata"]["name"]]
    without = render("security.adminToken.create=false")
    api = container(one(without, "Deployment"), "api")
    assert all(e["name"] != "FLREPO_ADMIN_TOKEN" for e in api.get("env", []))


# --- the bundled MongoDB ----------------------------------------------------------


def test_mongodb_statefulset_claims_a_volume(default: list[Manifest]) -> None:
    statefulset = one(default, "StatefulSet")
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"]
    mongo = container(statefulset, "mongodb")
    assert mongo["image"] == "mongo:8"
    mounts = {m["mountPath"]: m["name"] for m in mongo["volumeMounts"]}
    assert mounts["/data/db"] == claim["metadata"]["name"]
    headless = one(default, "Service", "mongodb")
    assert statefulset["spec"]["serviceName"] == headless["metadata"]["name"]
    assert statefulset["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_mongodb_root_password_matches_the_api_url(default: list[Manifest]) -> None:
    mongo = container(one(default, "StatefulSet"), "mongodb")
    ref = env_var(mongo, "MONGO_INITDB_ROOT_PASSWORD")["valueFrom"]["secretKeyRef"]
    password = secret_value(default, ref["name"], ref["key"])
    api = container(one(default, "Deployment"), "api")
    assert f"root:{password}@" in mongodb_url(default, api)


def test_mongodb_stays_inside_the_cluster(default: list[Manifest]) -> None:
    headless = one(default, "Service", "mongodb")
    assert headless["spec"].get("type", "ClusterIP") == "ClusterIP"
    assert headless["spec"]["clusterIP"] == "None"
    for service in of_kind(default, "Service"):
        if service["spec"].get("type") in ("NodePort", "LoadBalancer"):
            for port in service["spec"]["ports"]:
                assert 27017 not in (port["port"], port.get("targetPort")), service
                assert port.get("targetPort") != "mongodb", service


@pytest.mark.parametrize("service_type", ["ClusterIP", "LoadBalancer"])
def test_api_service_type_is_configurable(render: Render, service_type: str) -> None:
    manifests = render(f"service.type={service_type}")
    service = one(manifests, "Service", "api")
    assert service["spec"]["type"] == service_type
    (port,) = service["spec"]["ports"]
    assert ("nodePort" in port) == (service_type == "LoadBalancer")
    assert one(manifests, "Service", "mongodb")["spec"]["clusterIP"] == "None"


def test_mongodb_is_a_three_member_replica_set(default: list[Manifest]) -> None:
    statefulset = one(default, "StatefulSet")
    name = statefulset["metadata"]["name"]
    assert statefulset["spec"]["replicas"] == 3
    assert statefulset["spec"]["podManagementPolicy"] == "Parallel"
    mongo = container(statefulset, "mongodb")
    args = mongo["args"]
    assert args[args.index("--replSet") + 1] == "rs0"
    assert args[args.index("--keyFile") + 1] == "/keyfile/key"
    # Stable member names: the headless Service publishes them before the pods are ready.
    headless = one(default, "Service", "mongodb")
    assert headless["spec"]["publishNotReadyAddresses"] is True
    members = [f"{name}-{i}.{name}.fl.svc:27017" for i in range(3)]
    api = container(one(default, "Deployment"), "api")
    assert ",".join(members) in mongodb_url(default, api)
    # The first pod initiates the set with exactly those members, only if there is none.
    init = container(statefulset, "replica-set-init")
    assert env_var(init, "MEMBERS")["value"] == ",".join(members)
    assert env_var(init, "REPLICA_SET")["value"] == "rs0"
    script = init["command"][-1]
    assert '"${HOSTNAME##*-}" != "0"' in script
    assert 'e.codeName !== "NotYetInitialized"' in script and "rs.initiate(" in script
    # The members share one key, copied out of the Secret with mode 0400.
    (copy,) = statefulset["spec"]["template"]["spec"]["initContainers"]
    assert "chmod 0400 /keyfile/key" in copy["command"][-1]
    volumes = {v["name"]: v for v in statefulset["spec"]["template"]["spec"]["volumes"]}
    secret = volumes["replica-set-key-secret"]["secret"]
    assert secret["items"] == [{"key": "mongodb-replica-set-key", "path": "key"}]
    key = secret_value(default, secret["secretName"], "mongodb-replica-set-key")
    assert re.fullmatch(r"[A-Za-z0-9]{756}", key)  # base64 characters, as mongod requires
    # At most one member down at a time in a drain, members on different nodes if possible.
    pdb = one(default, "PodDisruptionBudget", "mongodb")
    assert pdb["spec"]["maxUnavailable"] == 1
    anti = statefulset["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    (term,) = anti["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"


def test_single_member_replica_set_without_auth(render: Render) -> None:
    manifests = render("mongodb.replicaCount=1", "mongodb.auth.enabled=false")
    statefulset = one(manifests, "StatefulSet")
    name = statefulset["metadata"]["name"]
    assert statefulset["spec"]["replicas"] == 1
    assert "--keyFile" not in container(statefulset, "mongodb")["args"]
    assert "initContainers" not in statefulset["spec"]["template"]["spec"]
    api = container(one(manifests, "Deployment"), "api")
    url = f"mongodb://{name}-0.{name}.fl.svc:27017/?replicaSet=rs0"
    assert mongodb_url(manifests, api) == url
    assert [p["metadata"]["name"] for p in of_kind(manifests, "PodDisruptionBudget")] == [
        one(manifests, "Deployment")["metadata"]["name"]
    ]  # no budget for a single MongoDB member


# --- an external MongoDB ----------------------------------------------------------


def test_external_mongodb_has_no_statefulset(external: list[Manifest]) -> None:
    assert of_kind(external, "StatefulSet") == []
    (service,) = of_kind(external, "Service")
    assert service["metadata"]["labels"]["app.kubernetes.io/component"] == "api"
    api = container(one(external, "Deployment"), "api")
    assert mongodb_url(external, api) == EXTERNAL_URL


def test_external_mongodb_from_an_existing_secret(render: Render) -> None:
    manifests = render(
        "mongodb.enabled=false",
        "externalMongodb.existingSecret=shared-mongodb",
        "externalMongodb.existingSecretKey=url",
        "seed.enabled=true",
    )
    names = [m["metadata"]["name"] for m in of_kind(manifests, "Secret")]
    assert names == [f"{RELEASE}-admin-token"]  # no Secret for MongoDB
    assert of_kind(manifests, "StatefulSet") == []
    deployment = one(manifests, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    api = container(deployment, "api")
    (wait,) = deployment["spec"]["template"]["spec"]["initContainers"]
    seed = container(one(manifests, "Job"), "seed")
    for c in (api, wait, seed):
        ref = env_var(c, "FLREPO_MONGODB_URL")["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "shared-mongodb", "key": "url"}, c["name"]
    (pdb,) = of_kind(manifests, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1


def test_no_mongodb_at_all_is_refused(helm: str) -> None:
    result = subprocess.run(
        [helm, "template", RELEASE, str(CHART), "--set", "mongodb.enabled=false"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "externalMongodb.url" in result.stderr


# --- the seed job -----------------------------------------------------------------


def test_seed_job_only_when_enabled(default: list[Manifest]) -> None:
    assert of_kind(default, "Job") == []


def test_seed_job_runs_flrepo_seed_restore(render: Render) -> None:
    manifests = render("seed.enabled=true", "seed.existingClaim=dumps")
    job = one(manifests, "Job")
    seed = container(job, "seed")
    command = [*seed.get("command", []), *seed.get("args", [])]
    assert command[:3] == ["flrepo", "seed", "restore"]
    assert command[3:] == ["/seed/db.dump", "--if-empty"]  # only into an empty repository
    mounts = {m["mountPath"]: m for m in seed["volumeMounts"]}
    assert mounts["/seed"]["readOnly"] is True
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    claim = volumes[mounts["/seed"]["name"]]["persistentVolumeClaim"]
    assert claim == {"claimName": "dumps", "readOnly": True}
    api = container(one(manifests, "Deployment"), "api")
    assert mongodb_url(manifests, seed) == mongodb_url(manifests, api)
    assert seed["securityContext"]["readOnlyRootFilesystem"] is True
    assert "post-install" in job["metadata"]["annotations"]["helm.sh/hook"]


def test_seed_job_from_a_host_path(render: Render) -> None:
    manifests = render(
        "seed.enabled=true",
        "seed.volume.hostPath.path=/srv/flrepo",
        "seed.archive=dumps/db.dump",
        "mongodb.enabled=false",
        f"externalMongodb.url={EXTERNAL_URL}",
    )
    job = one(manifests, "Job")
    seed = container(job, "seed")
    assert seed["command"] == ["flrepo", "seed", "restore", "/seed/dumps/db.dump", "--if-empty"]
    (volume,) = [v for v in job["spec"]["template"]["spec"]["volumes"] if v["name"] == "seed"]
    assert volume == {"name": "seed", "hostPath": {"path": "/srv/flrepo"}}
    assert mongodb_url(manifests, seed) == EXTERNAL_URL


# --- every workload -----------------------------------------------------------------


def pod_specs(manifests: list[Manifest]) -> Iterator[tuple[str, Manifest]]:
    for m in manifests:
        if m["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield f"{m['kind']}/{m['metadata']['name']}", m["spec"]["template"]["spec"]


def test_every_container_is_locked_down(render: Render) -> None:
    manifests = render("seed.enabled=true")
    specs = dict(pod_specs(manifests))
    assert len(specs) == 3
    for name, spec in specs.items():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["automountServiceAccountToken"] is False, name
        for c in spec.get("initContainers", []) + spec["containers"]:
            context = c["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, (name, c["name"])
            assert context["allowPrivilegeEscalation"] is False, (name, c["name"])
            assert context["capabilities"]["drop"] == ["ALL"], (name, c["name"])
            mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
            assert "/tmp" in mounts, (name, c["name"])


def test_selectors_do_not_overlap(render: Render) -> None:
    manifests = render("seed.enabled=true")
    api = one(manifests, "Deployment")["spec"]["selector"]["matchLabels"]
    mongo = one(manifests, "StatefulSet")["spec"]["selector"]["matchLabels"]
    labels = {
        f"{m['kind']}/{m['metadata']['name']}": m["spec"]["template"]["metadata"]["labels"]
        for m in manifests
        if m["kind"] in ("Deployment", "StatefulSet", "Job")
    }
    for name, pod in labels.items():
        matches = [sel for sel in (api, mongo) if sel.items() <= pod.items()]
        assert len(matches) == (0 if name.startswith("Job/") else 1), name


# --- docker-compose.yml ---------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def compose_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return env


def compose_services(compose: dict[str, Any]) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """(server service, database service name, database service)."""
    services = compose["services"]
    (db_name,) = [n for n, s in services.items() if str(s.get("image", "")).startswith("mongo:")]
    (server,) = [s for n, s in services.items() if n != db_name]
    return server, db_name, services[db_name]


def test_compose_server(compose: dict[str, Any]) -> None:
    server, db_name, _ = compose_services(compose)
    assert "9013:9012" in [str(p) for p in server["ports"]]
    assert server["depends_on"][db_name]["condition"] == "service_healthy"
    url = compose_env(server)["FLREPO_MONGODB_URL"]
    assert url == f"mongodb://{db_name}:27017/?replicaSet=rs0"
    assert server.get("build") in (".", {"context": "."})


def test_compose_mongodb_is_a_single_member_replica_set(compose: dict[str, Any]) -> None:
    _, db_name, db = compose_services(compose)
    assert db["image"] == "mongo:8"
    command = db["command"]
    assert command[0] == "mongod"
    assert command[command.index("--replSet") + 1] == "rs0"
    test = db["healthcheck"]["test"]
    test = " ".join(test) if isinstance(test, list) else test
    assert "mongosh" in test
    # Initiates the set only when rs.status() says it has none, with the member's
    # compose name (what the server's driver will be told to connect to).
    assert re.search(r"try \{ rs\.status\(\) \} catch \(e\) \{\s*rs\.initiate\(", test)
    assert f"host: '{db_name}:27017'" in test and "_id: 'rs0'" in test
    assert "isWritablePrimary" in test  # healthy once it is the primary
    (volume,) = db["volumes"]
    source, target = str(volume).split(":")[:2]
    assert target == "/data/db"
    assert source in compose["volumes"]  # a named volume, not a host folder
    assert "ports" not in db  # MongoDB is not published on the host


def test_compose_documents_the_seed_archive() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert re.search(r"#\s*FLREPO_SEED_ARCHIVE:\s*/seed/db\.dump", text)
    assert re.search(r"#\s*-\s*\./db\.dump:/seed/db\.dump:ro", text)


# --- Dockerfile ---------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    assert not pending, "Dockerfile ends with a continuation line"
    pairs = [line.partition(" ") for line in logical]
    return [(op.upper(), rest.strip()) for op, _, rest in pairs]


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    return instructions[last:]


def test_dockerfile_runtime_stage() -> None:
    stage = final_stage()
    ops = dict(stage)
    assert "9012" in ops["EXPOSE"].split()
    healthcheck = ops["HEALTHCHECK"]
    assert "/healthz" in healthcheck
    assert "urllib" in healthcheck
    assert json.loads(ops["ENTRYPOINT"]) == ["flrepo", "serve", "--host", "0.0.0.0"]
    users = [args for op, args in stage if op == "USER"]
    assert users, "the runtime stage sets no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")


def test_dockerfile_stages() -> None:
    """Two Python stages; the explorer assets come from the committed flrepo/static, no Node."""
    instructions = dockerfile_instructions()
    args = dict(a.split("=", 1) for op, a in instructions if op == "ARG" and "=" in a)
    bases = [a.split()[0] for op, a in instructions if op == "FROM"]
    resolved = [re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], b) for b in bases]
    assert resolved == ["python:3.12-slim", "python:3.12-slim"]
    runs = [a for op, a in instructions if op == "RUN"]
    assert not any("npm" in a for a in runs)
    install = next(a for a in runs if re.search(r"pip install \.(\s|$)", a))
    assert "manifest.json" in install  # the build fails if the assets were not packaged


def test_dockerignore_keeps_local_state_out() -> None:
    patterns = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "**/node_modules", "*.dump"} <= patterns
    assert "flrepo/static" not in patterns  # the committed assets go into the image
    assert "README.md" not in patterns  # pyproject.toml's readme is needed by the build


# --- metrics ------------------------------------------------------------------


def test_metrics_scraping_is_off_by_default(default: list[Manifest]) -> None:
    pod = one(default, "Deployment")["spec"]["template"]["metadata"]
    assert not any(key.startswith("prometheus.io/") for key in pod.get("annotations", {}))
    assert [p["name"] for p in one(default, "Service", "api")["spec"]["ports"]] == ["http"]


def test_metrics_scraping_when_enabled(render: Render) -> None:
    manifests = render("metrics.enabled=true")
    annotations = one(manifests, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == "9012"
    assert annotations["prometheus.io/path"] == "/metrics"
    ports = {p["name"]: p for p in one(manifests, "Service", "api")["spec"]["ports"]}
    assert ports["metrics"]["port"] == 9090
    assert ports["metrics"]["targetPort"] == "http"
