"""Connect to a search engine: a real Elasticsearch cluster when a URL is given, else the embedded osmem-server.

Callers get one `Backend` whatever the engine: the official client (`.client`), the engine's `kind`, what it can do
(`capabilities`), and plain-dict `search`/`count` helpers with a timeout. Retries on 503 are off because osmem
answers 503 to a request with too many buckets, and retrying it only repeats the failure.
"""
import os

from elasticsearch import ApiError, Elasticsearch
from elastic_transport import TransportError

from . import schema
from .loader import load_all
from .osmem import HELP_REAL_CLUSTER, EmbeddedServer, PlainJsonNode

REQUEST_TIMEOUT_S = 30.0
RETRY_ON_STATUS = (429, 502, 504)       # the client's default minus 503 (see the module docstring)
JSON_HEADERS = {"accept": "application/json", "content-type": "application/json"}


class BackendError(RuntimeError):
    """The engine could not be reached or refused the connection."""


def _capabilities(kind, version):
    """What the connected engine supports; osmem lacks dense vectors, knn and stored scripts, and keeps no data."""
    if kind == "osmem":
        return {"knn": False, "dense_vector": False, "scripts": False, "persistent": False, "version": version}
    major = int(version.split(".")[0]) if version[:1].isdigit() else 0
    return {"knn": major >= 8, "dense_vector": major >= 8, "scripts": True, "persistent": True, "version": version}


class Backend:
    """One connected engine: `.client`, `.kind` ("osmem" or "elasticsearch"), `.capabilities`, search helpers."""

    def __init__(self, client, kind, url, version, server=None):
        self.client, self.kind, self.url, self.server = client, kind, url, server
        self.capabilities = _capabilities(kind, version)

    def __repr__(self):
        return f"Backend(kind={self.kind!r}, url={self.url!r})"

    def search(self, index, body, timeout=REQUEST_TIMEOUT_S):
        """POST /index/_search with `body` (already validated by the caller); returns the response as a dict."""
        if index not in schema.INDEXES:
            raise ValueError(f"index must be one of {list(schema.INDEXES)}, got {index!r}")
        client = self.client.options(request_timeout=timeout)
        return client.perform_request("POST", f"/{index}/_search", headers=JSON_HEADERS, body=body).body

    def count(self, index, query=None):
        """Number of documents in `index` matching `query` (all documents when None)."""
        body = {"size": 0, "track_total_hits": True}
        if query is not None:
            body["query"] = query
        return self.search(index, body)["hits"]["total"]["value"]

    def ensure_loaded(self, indexes=schema.INDEXES, progress=True, mappings=None):
        """Create and fill each index unless it already holds all its documents; returns {index: count}."""
        return load_all(self.client, tuple(indexes), mappings=mappings, progress=progress)

    def close(self):
        """Close the client and stop the embedded server if this backend started one."""
        self.client.close()
        if self.server is not None:
            self.server.stop()


def _client(url, node_class=None, **auth):
    kwargs = dict(request_timeout=REQUEST_TIMEOUT_S, retry_on_status=RETRY_ON_STATUS, max_retries=2, **auth)
    if node_class is not None:
        kwargs["node_class"] = node_class
    return Elasticsearch(url, **kwargs)


def connect(url=None, api_key=None, basic_auth=None, verify_certs=True):
    """A Backend for `url` (default: env TINYLLM_ES_URL), or for a freshly started embedded osmem-server.

    `api_key` and `basic_auth` ((user, password)) authenticate against a real cluster; TLS certificates are verified
    unless `verify_certs=False`.
    """
    url = url or os.environ.get("TINYLLM_ES_URL") or None
    if url is None:
        server = EmbeddedServer()
        client = _client(server.url, node_class=PlainJsonNode)
        return Backend(client, "osmem", server.url, server.version, server=server)
    auth = {"verify_certs": verify_certs}
    if api_key is not None:
        auth["api_key"] = api_key
    if basic_auth is not None:
        auth["basic_auth"] = tuple(basic_auth)
    client = _client(url, **auth)
    try:
        info = client.info().body
    except ApiError as e:
        if e.meta.status != 406:
            raise BackendError(f"{url} refused the connection: {e}") from None
        # osmem (and other lenient engines) reject the vendor media types: talk plain JSON to them.
        client.close()
        client = _client(url, node_class=PlainJsonNode, **auth)
        info = client.info().body
    except (TransportError, ValueError) as e:
        raise BackendError(f"cannot reach a search engine at {url!r}: {e}. Check the URL, that the cluster is "
                           f"running and the credentials; unset TINYLLM_ES_URL to use the embedded engine.") from None
    version = info.get("version", {})
    kind = "osmem" if version.get("build_hash") == "osmem" or info.get("cluster_name") == "osmem" else "elasticsearch"
    if kind == "osmem" and not isinstance(client.transport.node_pool.get(), PlainJsonNode):
        client.close()      # GET / carries no body, so it passed; searches would get 406 without plain JSON
        client = _client(url, node_class=PlainJsonNode, **auth)
    return Backend(client, kind, url, version.get("number", ""))
