"""One Lambda execution environment: imports the real handler and invokes it repeatedly.

Run by bench/warm.py as `python -m bench.lambda_child <job.json> <result.json>`; the function's
environment (moto endpoint, table, topic, fake credentials) is inherited. Everything the handler
logs goes to this process's stdout, as in Lambda, where it is what CloudWatch Logs ingests; a
marker line (not counted) separates invocations so the parent can measure log bytes per run.
The job: {"invocations": [{"cluster", "execution_id", "read_only"}...]}. The result file gets,
per invocation, the handler's wall and CPU time (all threads), the outcome, and the DynamoDB calls with their item
sizes (recorded with a botocore event hook on the handler's own client).
"""

from __future__ import annotations

import json
import sys
import time

MARKER = "#bench-invocation-end#"


def main() -> None:
    job = json.loads(open(sys.argv[1]).read())
    started = time.perf_counter()
    from cpwatch.entry import handler
    import_s = time.perf_counter() - started

    from bench.aws import context, event

    calls: list[dict] = []

    def record(params, model, **kwargs):  # the API parameters, before serialization
        item = params.get("Item")
        calls.append({"operation": model.name, "item_bytes": dynamodb_item_size(item) if item else 0,
                      "consistent": bool(params.get("ConsistentRead"))})

    results = []
    hooked = False
    for index, spec in enumerate(job["invocations"]):
        calls.clear()
        started, cpu_started = time.perf_counter(), time.process_time()
        outcome = handler.lambda_handler(event(spec["cluster"], spec["execution_id"], spec.get("read_only")), context())
        seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu_started
        if not hooked:
            # Hooked after the first invocation built the clients; its own calls are not recorded.
            store = handler.dependencies().store
            store._db.meta.events.register("before-parameter-build.dynamodb.*", record)
            hooked = True
        sys.stdout.flush()
        print(MARKER, flush=True)
        results.append({"seconds": seconds, "cpu_s": cpu_s, "outcome": outcome, "dynamodb": list(calls) if index else None})
    with open(sys.argv[2], "w") as out:
        json.dump({"import_s": import_s, "results": results}, out)


def dynamodb_item_size(item: dict) -> int:
    """DynamoDB's item size: attribute name lengths plus value sizes (strings UTF-8 bytes, numbers
    about 1 byte per 2 significant digits + 1), as its capacity units are computed."""
    total = 0
    for name, value in item.items():
        total += len(name.encode())
        total += _value_size(value)
    return total


def _value_size(value: dict) -> int:
    (kind, data), = value.items()
    if kind == "S":
        return len(data.encode())
    if kind == "N":
        digits = len(data.strip("-").replace(".", "").lstrip("0")) or 1
        return (digits + 1) // 2 + 1
    if kind == "B":
        return len(data)
    if kind == "BOOL" or kind == "NULL":
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + _value_size(v) for k, v in data.items())
    if kind == "L":
        return 3 + sum(_value_size(v) + 1 for v in data)
    if kind in ("SS", "NS", "BS"):
        return sum(len(str(v)) for v in data)
    return len(json.dumps(data))


if __name__ == "__main__":
    main()
