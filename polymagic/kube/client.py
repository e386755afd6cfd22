"""The one layer that talks to the Kubernetes API.

Logs in (kubeconfig, then in-cluster), and offers the few calls a build needs on plain dicts:
create, read, list, watch, logs, delete, access reviews. Every client exception becomes a
polymagic ``ClusterError``/``ApiError`` carrying status and reason, in words a user reads.
Nothing else in polymagic imports ``kubernetes``; the build code takes a ``Cluster`` (or
anything shaped like it), so tests, the CLI and the notebook share it.

Of the ``kubernetes`` package this module uses what is hard to get right: kubeconfig and
in-cluster loading, authentication (tokens, exec plugins and their refresh, client
certificates), TLS and the connection pool (``Configuration``, ``ApiClient.param_serialize``
and ``call_api``, which adds the credentials and quotes paths and queries). The calls themselves
are plain REST on the API's paths, JSON in and out: the generated API classes (``CoreV1Api``
and the pydantic models it pulls in) cost a new process most of a second to import, and
polymagic handles objects as dicts anyway. It must not import them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3
from kubernetes.client.api_client import ApiClient
from kubernetes.client.configuration import Configuration
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import InClusterConfigLoader
from kubernetes.config.kube_config import list_kube_config_contexts, load_kube_config

from polymagic.errors import ApiError, ClusterConfigError, ClusterError
from polymagic.kube.kubeconfig import HOW_TO_CONFIGURE, SERVICE_ACCOUNT_DIR
from polymagic.outcome.log_lines import MAX_LINE, LineSplitter

__all__ = ["Cluster", "WatchExpired", "connect"]

JsonDict = dict[str, Any]
Query = Sequence[tuple[str, str | int | bool]]

# The API's paths, ``{name}`` parts quoted by ``ApiClient.param_serialize``.
NAMESPACE = "/api/v1/namespaces/{name}"
PODS = "/api/v1/namespaces/{namespace}/pods"
ALL_PODS = "/api/v1/pods"
POD = "/api/v1/namespaces/{namespace}/pods/{name}"
POD_LOG = "/api/v1/namespaces/{namespace}/pods/{name}/log"
EVENTS = "/api/v1/namespaces/{namespace}/events"
CONFIG_MAPS = "/api/v1/namespaces/{namespace}/configmaps"
CONFIG_MAP = "/api/v1/namespaces/{namespace}/configmaps/{name}"
SECRET = "/api/v1/namespaces/{namespace}/secrets/{name}"
ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
# Kubernetes' own answer to a GET of pods/log is text; errors still come as a JSON Status.
LOG_ACCEPT = "text/plain, application/json"


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


def answer_error(status: int | None, reason: object, body: object, doing: str) -> ApiError:
    """A polymagic ApiError for an error answer of the API server, keeping status and reason."""
    detail = ""
    try:
        answer = json.loads(body or "{}")  # type: ignore[arg-type]
        detail = str(answer.get("message") or "")
    except (ValueError, TypeError, AttributeError):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
        detail = text[:300]
    words = _REASONS.get(status or 0, str(reason or "error"))
    message = f"{doing}: {words} ({status} {reason})"
    if detail:
        message += f": {detail}"
    return ApiError(message, status=status, reason=str(reason) if reason else None)


def api_error(exc: ApiException, doing: str) -> ApiError:
    """A polymagic ApiError for a client ApiException (the client's REST layer raises one for a
    TLS failure, with status 0), keeping status and reason."""
    status = exc.status if isinstance(exc.status, int) else None
    return answer_error(status, exc.reason, exc.body, doing)


class _Rest:
    """One request at a time to the API server over the client's ``ApiClient`` (credentials,
    TLS, pool): the answer as JSON, or as a stream of lines; errors in polymagic's words."""

    def __init__(self, api: ApiClient, server: str) -> None:
        self.api = api
        self.server = server

    def send(
        self,
        doing: str,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        query: Query = (),
        body: JsonDict | None = None,
        content_type: str = JSON,
        accept: str = JSON,
        timeout: tuple[float, float | None] | None = None,
    ) -> Any:
        """Send one request; the unread urllib3 response of a 2xx answer (release it when
        done). An error answer becomes an ``ApiError``, connection trouble a ``ClusterError``."""
        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        try:
            # param_serialize adds the credentials (calling the refresh hook of exec plugins
            # and of the in-cluster token file) and quotes the path's parts and the query.
            request = self.api.param_serialize(
                method,
                path,
                path_params=params,
                query_params=list(query),
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self.api.call_api(*request, _request_timeout=timeout).response
        except ApiException as exc:
            raise api_error(exc, doing) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ClusterError(
                f"{doing}: cannot reach the API server at {self.server} ({exc})"
            ) from exc
        if not 200 <= response.status <= 299:
            try:
                text = response.data
            except (urllib3.exceptions.HTTPError, OSError):
                text = b""
            finally:
                response.release_conn()
            raise answer_error(response.status, response.reason, text, doing)
        return response

    def read_json(self, doing: str, method: str, path: str, **kwargs: Any) -> JsonDict:
        response = self.send(doing, method, path, **kwargs)
        try:
            raw = response.data
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise ClusterError(f"{doing}: the connection to {self.server} dropped ({exc})") from exc
        finally:
            response.release_conn()
        try:
            data = json.loads(raw or b"{}")
        except ValueError as exc:
            raise ClusterError(
                f"{doing}: the API server at {self.server} answered with something that is not"
                f" JSON ({str(exc)[:100]})"
            ) from exc
        if not isinstance(data, dict):
            raise ClusterError(f"{doing}: the API server at {self.server} answered with no object")
        return data

    def lines(
        self, doing: str, path: str, limit: int | None = None, **kwargs: Any
    ) -> Iterator[str]:
        """The lines of a streamed GET answer (see ``_json_lines``), the connection released at
        the end."""
        response = self.send(doing, "GET", path, **kwargs)
        try:
            yield from _json_lines(response, doing, self.server, limit=limit)
        finally:
            response.release_conn()


@dataclass
class Cluster:
    """A logged-in connection to one cluster, with a default namespace."""

    # The client's credentials, TLS and connection pool; polymagic's own calls are below.
    _api: ApiClient = field(repr=False)
    namespace: str
    server: str
    source: str
    _rest: _Rest = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rest = _Rest(self._api, self.server)

    def fresh(self) -> Cluster:
        """The same cluster over a new connection (for cleanup after an interrupt)."""
        configuration = self._api.configuration
        return Cluster(ApiClient(configuration), self.namespace, self.server, self.source)

    def close(self) -> None:
        """Release the connection pool."""
        self._api.close()

    def _json(self, doing: str, method: str, path: str, **kwargs: Any) -> JsonDict:
        return self._rest.read_json(doing, method, path, **kwargs)

    # -- calls -----------------------------------------------------------------------------

    def read_namespace(self, name: str) -> JsonDict:
        return self._json(f"reading namespace `{name}`", "GET", NAMESPACE, params={"name": name})

    def _read_secret(self, namespace: str, name: str) -> JsonDict:
        return self._json(
            f"reading secret `{name}`",
            "GET",
            SECRET,
            params={"namespace": namespace, "name": name},
        )

    def read_secret_type(self, namespace: str, name: str) -> str:
        """The ``type`` of a secret; its data is dropped at once and never shown."""
        data = self._read_secret(namespace, name)
        data.pop("data", None)
        data.pop("stringData", None)
        return str(data.get("type") or "Opaque")

    def read_secret_data(self, namespace: str, name: str) -> dict[str, str]:
        """A secret's ``data`` (base64 values), for polymagic's own use only: never shown."""
        values = self._read_secret(namespace, name).get("data") or {}
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
        review = self._json("checking permissions", "POST", ACCESS_REVIEWS, body=body)
        return bool(review.get("status", {}).get("allowed"))

    def create_config_map(self, namespace: str, body: JsonDict) -> JsonDict:
        name = body["metadata"]["name"]
        return self._json(
            f"creating ConfigMap `{name}`",
            "POST",
            CONFIG_MAPS,
            params={"namespace": namespace},
            body=body,
        )

    def create_pod(self, namespace: str, body: JsonDict) -> JsonDict:
        name = body["metadata"]["name"]
        return self._json(
            f"creating Pod `{name}`", "POST", PODS, params={"namespace": namespace}, body=body
        )

    def patch_config_map(self, namespace: str, name: str, patch: JsonDict) -> JsonDict:
        """A JSON merge patch (RFC 7386): maps merge, lists are replaced, ``None`` removes."""
        return self._json(
            f"updating ConfigMap `{name}`",
            "PATCH",
            CONFIG_MAP,
            params={"namespace": namespace, "name": name},
            body=patch,
            content_type=MERGE_PATCH,
        )

    def read_pod(self, namespace: str, name: str) -> JsonDict:
        return self._json(
            f"reading Pod `{name}`", "GET", POD, params={"namespace": namespace, "name": name}
        )

    def read_config_map(self, namespace: str, name: str) -> JsonDict:
        return self._json(
            f"reading ConfigMap `{name}`",
            "GET",
            CONFIG_MAP,
            params={"namespace": namespace, "name": name},
        )

    def list_pods(self, namespace: str | None, selector: str) -> list[JsonDict]:
        """Pods with the labels of ``selector``, in ``namespace`` or (``None``) in all."""
        query = [("labelSelector", selector)]
        if namespace is None:
            data = self._json("listing pods", "GET", ALL_PODS, query=query)
        else:
            data = self._json(
                "listing pods", "GET", PODS, params={"namespace": namespace}, query=query
            )
        return list(data.get("items") or [])

    def list_config_maps(self, namespace: str, selector: str) -> list[JsonDict]:
        data = self._json(
            "listing ConfigMaps",
            "GET",
            CONFIG_MAPS,
            params={"namespace": namespace},
            query=[("labelSelector", selector)],
        )
        return list(data.get("items") or [])

    def pod_events(self, namespace: str, pod: str) -> list[JsonDict]:
        """Events about one pod, oldest first."""
        data = self._json(
            f"reading events of Pod `{pod}`",
            "GET",
            EVENTS,
            params={"namespace": namespace},
            query=[("fieldSelector", f"involvedObject.kind=Pod,involvedObject.name={pod}")],
        )
        items = list(data.get("items") or [])
        return sorted(items, key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))

    def delete_pod(self, namespace: str, name: str) -> bool:
        """Delete a pod now (grace 0); False if it was already gone."""
        return self._delete(f"deleting Pod `{name}`", POD, namespace, name)

    def delete_config_map(self, namespace: str, name: str) -> bool:
        """Delete a ConfigMap; False if it was already gone."""
        return self._delete(f"deleting ConfigMap `{name}`", CONFIG_MAP, namespace, name)

    def _delete(self, doing: str, path: str, namespace: str, name: str) -> bool:
        try:
            self._json(
                doing,
                "DELETE",
                path,
                params={"namespace": namespace, "name": name},
                query=[("gracePeriodSeconds", 0), ("propagationPolicy", "Background")],
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
        query: list[tuple[str, str | int | bool]] = [
            ("fieldSelector", f"metadata.name={name}"),
            ("watch", True),
            ("timeoutSeconds", timeout_seconds),
            ("allowWatchBookmarks", False),
        ]
        if resource_version:
            query.append(("resourceVersion", resource_version))
        lines = self._rest.lines(
            doing,
            PODS,
            params={"namespace": namespace},
            query=query,
            timeout=(10, timeout_seconds + 10),
        )
        for line in lines:
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
        # A RUN step may print a line of any length: only its head is kept.
        yield from self._rest.lines(
            doing,
            POD_LOG,
            limit=MAX_LINE,
            params={"namespace": namespace, "name": name},
            query=[("container", container), ("follow", follow)],
            accept=LOG_ACCEPT,
            timeout=(10, read_timeout) if read_timeout else None,
        )


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
    configuration = Configuration()
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
            load_kube_config(
                config_file=path,
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
            contexts, active = list_kube_config_contexts(config_file=path)
        except (ConfigException, OSError, ValueError, TypeError) as exc:
            raise ClusterConfigError(f"cannot use the kubeconfig {path}: {exc}") from exc
        if context:
            active = next((c for c in contexts if c.get("name") == context), active)
        default_ns = (active or {}).get("context", {}).get("namespace") or "default"
        source = f"kubeconfig {path}"
    elif os.environ.get("KUBERNETES_SERVICE_HOST"):
        loader = InClusterConfigLoader(
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
        ApiClient(configuration), namespace or default_ns, str(configuration.host), source
    )
