"""The one layer that talks to the Kubernetes API.

Logs in (kubeconfig, then in-cluster), and offers the few calls a build needs on plain dicts:
create, read, list, watch, logs, delete, access reviews. Every client exception becomes a
polymagic ``ClusterError``/``ApiError`` carrying status and reason, in words a user reads.
Nothing else in polymagic imports ``kubernetes``; the build code takes a ``Cluster`` (or
anything shaped like it), so tests, the CLI and the notebook share it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config import incluster_config
from kubernetes.config.config_exception import ConfigException

from polymagic.errors import ApiError, ClusterConfigError, ClusterError
from polymagic.render.kaniko_log import MAX_LINE, LineSplitter

__all__ = ["Cluster", "WatchExpired", "connect"]

JsonDict = dict[str, Any]
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")

HOW_TO_CONFIGURE = (
    "no Kubernetes cluster is configured: set KUBECONFIG to a kubeconfig file (or create"
    " ~/.kube/config, e.g. with `kubectl config`), or run inside a pod with a service account"
)


class WatchExpired(Exception):
    """Raised by ``Cluster.watch_pod`` when the resource version is too old (410 Gone)."""


_REASONS = {
    400: "the request was rejected as invalid",
    401: "the credentials were not accepted (expired token or wrong kubeconfig user)",
    403: "permission denied",
    404: "not found",
    409: "it already exists or changed meanwhile",
    410: "the watched version is gone",
    422: "the object is invalid",
    429: "the API server is busy, try again",
    500: "the API server failed",
    503: "the API server is unavailable",
}


def api_error(exc: ApiException, doing: str) -> ApiError:
    """A polymagic ApiError for a client ApiException, keeping status and reason."""
    status = exc.status if isinstance(exc.status, int) else None
    detail = ""
    try:
        body = json.loads(exc.body or "{}")
        detail = str(body.get("message") or "")
    except (ValueError, AttributeError):
        detail = str(exc.body or "")[:300]
    words = _REASONS.get(status or 0, str(exc.reason or "error"))
    message = f"{doing}: {words} ({status} {exc.reason})"
    if detail:
        message += f": {detail}"
    return ApiError(message, status=status, reason=str(exc.reason) if exc.reason else None)


@dataclass
class Cluster:
    """A logged-in connection to one cluster, with a default namespace."""

    api_client: client.ApiClient
    namespace: str
    server: str
    source: str

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api_client)

    def fresh(self) -> Cluster:
        """The same cluster over a new connection (for cleanup after an interrupt)."""
        configuration = self.api_client.configuration
        return Cluster(client.ApiClient(configuration), self.namespace, self.server, self.source)

    def close(self) -> None:
        """Release the connection pool."""
        self.api_client.close()

    # -- calls -----------------------------------------------------------------------------

    def _call(self, doing: str, method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except ApiException as exc:
            raise api_error(exc, doing) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ClusterError(
                f"{doing}: cannot reach the API server at {self.server} ({exc})"
            ) from exc

    def _json(self, doing: str, method: Any, *args: Any, **kwargs: Any) -> JsonDict:
        response = self._call(doing, method, *args, _preload_content=False, **kwargs)
        try:
            data: JsonDict = json.loads(response.data or b"{}")
        finally:
            response.release_conn()
        return data

    def read_namespace(self, name: str) -> JsonDict:
        return self._json(f"reading namespace `{name}`", self.core.read_namespace, name)

    def read_secret_type(self, namespace: str, name: str) -> str:
        """The ``type`` of a secret; its data is dropped at once and never shown."""
        data = self._json(
            f"reading secret `{name}`", self.core.read_namespaced_secret, name, namespace
        )
        data.pop("data", None)
        data.pop("stringData", None)
        return str(data.get("type") or "Opaque")

    def read_secret_data(self, namespace: str, name: str) -> dict[str, str]:
        """A secret's ``data`` (base64 values), for polymagic's own use only: never shown."""
        data = self._json(
            f"reading secret `{name}`", self.core.read_namespaced_secret, name, namespace
        )
        values = data.get("data") or {}
        return {str(k): str(v) for k, v in values.items()}

    def can_i(self, verb: str, resource: str, namespace: str, subresource: str = "") -> bool:
        """A SelfSubjectAccessReview: may the current user ``verb`` ``resource`` here?"""
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {
                "resourceAttributes": {
                    "namespace": namespace,
                    "verb": verb,
                    "resource": resource,
                    "subresource": subresource,
                }
            },
        }
        api = client.AuthorizationV1Api(self.api_client)
        review = self._json("checking permissions", api.create_self_subject_access_review, body)
        return bool(review.get("status", {}).get("allowed"))

    def create_config_map(self, namespace: str, body: JsonDict) -> JsonDict:
        name = body["metadata"]["name"]
        return self._json(
            f"creating ConfigMap `{name}`", self.core.create_namespaced_config_map, namespace, body
        )

    def create_pod(self, namespace: str, body: JsonDict) -> JsonDict:
        name = body["metadata"]["name"]
        return self._json(
            f"creating Pod `{name}`", self.core.create_namespaced_pod, namespace, body
        )

    def patch_config_map(self, namespace: str, name: str, patch: JsonDict) -> JsonDict:
        return self._json(
            f"updating ConfigMap `{name}`",
            self.core.patch_namespaced_config_map,
            name,
            namespace,
            patch,
        )

    def read_pod(self, namespace: str, name: str) -> JsonDict:
        return self._json(f"reading Pod `{name}`", self.core.read_namespaced_pod, name, namespace)

    def read_config_map(self, namespace: str, name: str) -> JsonDict:
        return self._json(
            f"reading ConfigMap `{name}`", self.core.read_namespaced_config_map, name, namespace
        )

    def list_pods(self, namespace: str | None, selector: str) -> list[JsonDict]:
        if namespace is None:
            data = self._json(
                "listing pods", self.core.list_pod_for_all_namespaces, label_selector=selector
            )
        else:
            data = self._json(
                "listing pods", self.core.list_namespaced_pod, namespace, label_selector=selector
            )
        return list(data.get("items") or [])

    def list_config_maps(self, namespace: str, selector: str) -> list[JsonDict]:
        data = self._json(
            "listing ConfigMaps",
            self.core.list_namespaced_config_map,
            namespace,
            label_selector=selector,
        )
        return list(data.get("items") or [])

    def pod_events(self, namespace: str, pod: str) -> list[JsonDict]:
        """Events about one pod, oldest first."""
        data = self._json(
            f"reading events of Pod `{pod}`",
            self.core.list_namespaced_event,
            namespace,
            field_selector=f"involvedObject.kind=Pod,involvedObject.name={pod}",
        )
        items = list(data.get("items") or [])
        return sorted(items, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))

    def delete_pod(self, namespace: str, name: str) -> bool:
        """Delete a pod now (grace 0); False if it was already gone."""
        return self._delete(
            f"deleting Pod `{name}`", self.core.delete_namespaced_pod, name, namespace
        )

    def delete_config_map(self, namespace: str, name: str) -> bool:
        """Delete a ConfigMap; False if it was already gone."""
        return self._delete(
            f"deleting ConfigMap `{name}`", self.core.delete_namespaced_config_map, name, namespace
        )

    def _delete(self, doing: str, method: Any, name: str, namespace: str) -> bool:
        try:
            self._json(
                doing,
                method,
                name,
                namespace,
                grace_period_seconds=0,
                propagation_policy="Background",
            )
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def watch_pod(
        self, namespace: str, name: str, resource_version: str | None, timeout_seconds: int
    ) -> Iterator[tuple[str, JsonDict]]:
        """``(type, pod)`` changes of one pod after ``resource_version``, for at most
        ``timeout_seconds``; raises ``WatchExpired`` when that version is too old."""
        doing = f"watching Pod `{name}`"
        kwargs: dict[str, Any] = {
            "field_selector": f"metadata.name={name}",
            "watch": True,
            "timeout_seconds": timeout_seconds,
            "allow_watch_bookmarks": False,
            "_request_timeout": (10, timeout_seconds + 10),
        }
        if resource_version:
            kwargs["resource_version"] = resource_version
        response = self._call(
            doing, self.core.list_namespaced_pod, namespace, _preload_content=False, **kwargs
        )
        try:
            for line in _json_lines(response, doing, self.server):
                event = json.loads(line)
                kind = event.get("type")
                obj = event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise WatchExpired(obj.get("message", "410 Gone"))
                    raise ApiError(
                        f"{doing}: {obj.get('message', 'watch error')}",
                        status=obj.get("code"),
                        reason=obj.get("reason"),
                    )
                yield str(kind), obj
        finally:
            response.release_conn()

    def pod_log(
        self,
        namespace: str,
        name: str,
        container: str,
        *,
        follow: bool,
        read_timeout: float | None = None,
    ) -> Iterator[str]:
        """The container's log, line by line (each cut at ``MAX_LINE`` bytes plus a marker);
        with ``follow`` it goes on until the container ends."""
        doing = f"reading the log of Pod `{name}`"
        extra: dict[str, Any] = {"_request_timeout": (10, read_timeout)} if read_timeout else {}
        response = self._call(
            doing,
            self.core.read_namespaced_pod_log,
            name,
            namespace,
            container=container,
            follow=follow,
            _preload_content=False,
            **extra,
        )
        try:
            # A RUN step may print a line of any length: only its head is kept.
            yield from _json_lines(response, doing, self.server, limit=MAX_LINE)
        finally:
            response.release_conn()


def _json_lines(response: Any, doing: str, server: str, limit: int | None = None) -> Iterator[str]:
    """Lines of a streamed response, decoded; connection trouble becomes a ClusterError.

    Only the bytes of each new chunk are scanned for line ends; with ``limit``, a longer line
    keeps its first ``limit`` bytes and a marker (see ``LineSplitter``)."""
    splitter = LineSplitter(limit)
    try:
        for chunk in response.stream(64 * 1024, decode_content=True):
            yield from splitter.feed(chunk)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise ClusterError(f"{doing}: the connection to {server} dropped ({exc})") from exc
    yield from splitter.close()


def _in_cluster_namespace(service_account_dir: Path) -> str:
    try:
        return (service_account_dir / "namespace").read_text().strip() or "default"
    except OSError:
        return "default"


def connect(
    kubeconfig: str | Path | None = None,
    context: str | None = None,
    namespace: str | None = None,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
) -> Cluster:
    """Log in: the given kubeconfig, else ``$KUBECONFIG`` / ``~/.kube/config``, else in-cluster
    (a notebook in a pod: the service account's token, CA and namespace in ``service_account_dir``)."""
    configuration = client.Configuration()
    # Resolved here, not by the client: it reads $KUBECONFIG once, when it is first imported.
    candidates = [p for p in (os.environ.get("KUBECONFIG") or "").split(os.pathsep) if p]
    default = Path.home() / ".kube" / "config"
    if kubeconfig:
        path: str | None = str(kubeconfig)
    elif any(Path(p).is_file() for p in candidates):
        path = os.pathsep.join(p for p in candidates if Path(p).is_file())
    elif default.is_file():
        path = str(default)
    else:
        path = None
    if path is not None:
        try:
            config.load_kube_config(
                config_file=path,
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
            contexts, active = config.list_kube_config_contexts(config_file=path)
        except (ConfigException, OSError, ValueError, TypeError) as exc:
            raise ClusterConfigError(f"cannot use the kubeconfig {path}: {exc}") from exc
        if context:
            active = next((c for c in contexts if c.get("name") == context), active)
        default_ns = (active or {}).get("context", {}).get("namespace") or "default"
        source = f"kubeconfig {path}"
    elif os.environ.get("KUBERNETES_SERVICE_HOST"):
        loader = incluster_config.InClusterConfigLoader(
            token_filename=str(service_account_dir / "token"),
            cert_filename=str(service_account_dir / "ca.crt"),
        )
        try:
            loader.load_and_set(configuration)
        except ConfigException as exc:
            raise ClusterConfigError(
                f"in-cluster configuration failed ({exc}): is a service account token mounted in"
                f" {service_account_dir}?"
            ) from exc
        default_ns = _in_cluster_namespace(service_account_dir)
        source = "in-cluster service account"
    else:
        raise ClusterConfigError(HOW_TO_CONFIGURE)
    return Cluster(
        client.ApiClient(configuration), namespace or default_ns, str(configuration.host), source
    )
