"""The plain-HTTP control endpoint of `python -m tests.fakecluster serve`, and its client.

POST /fault/<name>[/<argument>] applies one of scenarios.FAULTS; GET /state describes the
control plane. Bound to 127.0.0.1 only.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

from .aggregation import is_available
from .cluster import FakeCluster
from .scenarios import FAULTS


def state(fc: FakeCluster) -> dict:
    return {
        "apiserver": fc.apiserver_mode,
        "apiservers": list(fc.apiserver_modes),
        "url": fc.url,
        "now": fc.clock.now().isoformat(),
        "etcd_members_down": sorted(fc.etcd.down_members),
        "etcd_quorum": fc.etcd.quorum,
        "controller_manager": "up" if fc.controller_manager.running else "down",
        "scheduler": "up" if fc.scheduler.running else "down",
        "nodes_lost": sorted(name for name, kubelet in fc.kubelets.nodes.items() if not kubelet.live),
        "etcd_nospace": fc.etcd.nospace,
        "write_fault": fc.etcd.write_fault.message if fc.etcd.write_fault else None,
        "webhooks": sorted(f"{hook['name']} ({configuration['metadata']['name']})"
                           for plural in ("validatingwebhookconfigurations", "mutatingwebhookconfigurations")
                           for configuration in fc.store.scan(plural) for hook in configuration.get("webhooks") or []),
        "apiservices_unavailable": sorted(service["metadata"]["name"] for service in fc.store.scan("apiservices")
                                          if not is_available(service)),
        "throttle": repr(fc.flow_control.throttle) if fc.flow_control.throttle else None,
    }


class ControlServer:
    def __init__(self, fc: FakeCluster, port: int = 0) -> None:
        cluster = fc

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                return

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body, indent=2).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/") in ("", "/state"):
                    self._answer(200, state(cluster))
                else:
                    self._answer(404, {"error": f"no such path {self.path}", "faults": sorted(FAULTS)})

            def do_POST(self) -> None:
                parts = [unquote(part) for part in self.path.strip("/").split("/")]
                if len(parts) not in (2, 3) or parts[0] != "fault" or parts[1] not in FAULTS:
                    self._answer(404, {"error": f"no such fault {self.path}", "faults": sorted(FAULTS)})
                    return
                try:
                    FAULTS[parts[1]](cluster, parts[2] if len(parts) == 3 else None)
                except (ValueError, KeyError) as error:
                    self._answer(400, {"error": str(error)})
                    return
                self._answer(200, state(cluster))

        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fakecluster-control", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> ControlServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def send_fault(control_url: str, fault: str, argument: str | None = None, timeout: float = 600) -> dict:
    path = f"/fault/{fault}" + (f"/{argument}" if argument else "")
    request = urllib.request.Request(control_url.rstrip("/") + path, data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise ValueError(json.loads(error.read()).get("error", str(error))) from None
