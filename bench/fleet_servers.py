"""Fake control planes for the fleet benchmark, many per process.

Run by bench/fleet.py as `python -m bench.fleet_servers`; reads one JSON line {"names": [...]},
starts one FakeCluster (3 nodes, accepting only an EKS token signed for its own name) per name,
prints one JSON line {name: {"url", "ca_pem"}}, then obeys commands, one per line:
`hung NAME`, `up NAME`, `rss` (prints this process's peak RSS in kB), `stop`; each is answered
with one line.
"""

from __future__ import annotations

import json
import sys


def main() -> None:
    from tests.fakecluster import FakeCluster

    from tests.aws.moto_server import eks_validator

    names = json.loads(sys.stdin.readline())["names"]
    clusters = {name: FakeCluster(nodes=3, token_validator=eks_validator(name)).start() for name in names}
    for fc in clusters.values():
        fc.advance(30)
    print(json.dumps({name: {"url": fc.url, "ca_pem": fc.ca_pem} for name, fc in clusters.items()}), flush=True)
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "hung":
            clusters[argument].set_apiserver("hung")
        elif command == "up":
            clusters[argument].set_apiserver("up")
        elif command == "rss":
            print(_peak_rss_kb(), flush=True)
            continue
        elif command == "stop":
            break
        print("ok", flush=True)
    for fc in clusters.values():
        fc.set_apiserver("up")
        fc.stop()
    print("stopped", flush=True)


def _peak_rss_kb() -> int:
    for line in open("/proc/self/status", encoding="ascii"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


if __name__ == "__main__":
    main()
