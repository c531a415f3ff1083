"""DynamoDB adapter: the only package that knows item shapes (items.py) and calls (table.py).

Called by pipeline.py (runs, alert state, execution claims), publish.py (state and outbox) and
cli.py (`cpwatch history`, `cpwatch evidence`). One table, partition key `pk`, sort key `sk`, TTL
attribute `expires_at`. A cluster is its ARN (identity.py): two clusters of one name in two
regions or accounts share nothing.

- run item    pk=CLUSTER#<arn>  sk=RUN#<iso time>#<run id>   one per check: the diagnosis
  document (zlib-compressed JSON), overall verdict, component verdicts, execution id, and the
  run's alert transitions (`alerts`: component, kind, severity); runs that were not healthy or
  that alerted are kept longer than passing ones. A run with a critical alert or reminder also
  holds `evidence`: the evidence pack of each such component (zlib-compressed JSON).
- state item  pk=CLUSTER#<arn>  sk=STATE   per-component alert state (critical and warning), the
  streaks of wedged.py, an outbox of notifications not yet published, and `version`, which every
  write checks and bumps, so two overlapping invocations never both act on the same state.
- claim item  pk=CLUSTER#<arn>  sk=EXEC#<execution id>   written once per scheduler execution:
  a redelivered event finds it and does nothing.
- name item   pk=NAME#<name>  sk=CLUSTER#<arn>   written with a cluster's first state: which
  clusters a name means (`cpwatch history --cluster prod` asks which one when there are two).

Before issue 17 the items were keyed `CLUSTER#<name>`. They are still read: a cluster's first
run under its ARN carries the state stored under its name over (alert state, outbox) and marks
that item `migrated_to=<arn>` in the same transaction, so it is taken over once, by one cluster;
that cluster's history then includes the runs under its name, until their TTL removes them
(the marked state item expires with them, after LEGACY_STATE_TTL).
"""

from .items import OutboxEntry, StoredRun, StoredState, document_of
from .table import (
    CLAIM_TTL,
    FAILING_RUN_TTL,
    LEGACY_STATE_TTL,
    PASSING_RUN_TTL,
    AlreadyClaimedError,
    LegacyCluster,
    StateConflictError,
    Store,
    StoreError,
    StoreUnreachableError,
)

__all__ = ["CLAIM_TTL", "FAILING_RUN_TTL", "LEGACY_STATE_TTL", "PASSING_RUN_TTL", "AlreadyClaimedError",
           "LegacyCluster", "OutboxEntry", "StateConflictError", "Store", "StoreError", "StoreUnreachableError",
           "StoredRun", "StoredState", "document_of"]
