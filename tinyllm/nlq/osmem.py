"""The embedded engine: start osmem-server (an in-memory Elasticsearch-compatible server) and talk to it.

Two facts about osmem shape this file. It answers the official client's vendor media types
(`application/vnd.elasticsearch+json; compatible-with=N`) with 406, so `PlainJsonNode` rewrites them to plain
JSON. And it keeps nothing on disk, so every process that starts it must load the data again.
"""
import atexit
import os

from elastic_transport import Urllib3HttpNode

STARTUP_TIMEOUT_S = 60.0       # an empty server is up in ~15 ms; leave room for a loaded, busy machine
HELP_REAL_CLUSTER = ("To use a real Elasticsearch 8/9 cluster instead, set TINYLLM_ES_URL=https://host:9200 "
                     "(or pass --es-url) and, if needed, an API key or user:password.")


class EmbeddedEngineError(RuntimeError):
    """The embedded osmem-server is missing or would not start."""


def _plain_json(value):
    """`application/vnd.elasticsearch+json; compatible-with=9` -> `application/json` (other values unchanged)."""
    if value and "vnd.elasticsearch+" in value:
        return value.split(";")[0].replace("vnd.elasticsearch+", "")
    return value


class PlainJsonNode(Urllib3HttpNode):
    """A transport node that sends plain JSON media types, which osmem accepts (it answers 406 otherwise)."""

    def perform_request(self, method, target, body=None, headers=None, **kwargs):
        if headers:
            headers = headers.copy()
            for name in ("accept", "content-type"):
                if name in headers:
                    headers[name] = _plain_json(headers[name])
        return super().perform_request(method, target, body=body, headers=headers, **kwargs)


class EmbeddedServer:
    """One osmem-server child process on a free loopback port; stopped at interpreter exit."""

    def __init__(self, timeout=STARTUP_TIMEOUT_S):
        try:
            from osmem_server import OsmemError, OsmemServer
        except ImportError:
            raise EmbeddedEngineError("the embedded engine needs the 'osmem-server' package "
                                      "(pip install osmem-server). " + HELP_REAL_CLUSTER) from None
        try:
            # japanese=False: no kuromoji analysis needed for English text, and startup is lighter.
            self._server = OsmemServer.start(japanese=False, addr="127.0.0.1:0", startup_timeout=timeout)
        except (OsmemError, OSError) as e:
            binary = os.environ.get("OSMEM_SERVER_BIN", "the binary bundled with osmem-server")
            raise EmbeddedEngineError(f"could not start the embedded engine ({binary}): {e}. "
                                      + HELP_REAL_CLUSTER) from None
        self.url = self._server.url
        self.version = self._server.version
        atexit.register(self.stop)

    def stop(self):
        """Stop the child process (idempotent)."""
        self._server.close(grace=2.0)
