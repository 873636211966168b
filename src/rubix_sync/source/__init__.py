"""Node database reading: read-only, schema-adapted, streamed in keyset-paginated batches.

::

    with open_node_db(node) as src:
        total = src.estimate()
        for rows, checkpoint in src.iter_batches(1000, after=saved_checkpoint):
            ...  # rows: list[TokenRow]; store checkpoint once the batch is written

:func:`fingerprint` tells whether a database changed since the last run.
"""

from rubix_sync.source._fingerprint import fingerprint
from rubix_sync.source._reader import NodeSource, open_node_db
from rubix_sync.source._schema import TABLE_ORDER

__all__ = ["TABLE_ORDER", "NodeSource", "fingerprint", "open_node_db"]
