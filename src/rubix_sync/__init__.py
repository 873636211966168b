"""rubix-sync: audit a fleet of Rubix nodes into one central SQL database.

Library first: :func:`rubix_sync.pipeline.sync` runs a sync; the ``rubix-sync`` command only wires
flags to it.
"""

__version__ = "0.1.0"
