"""Demo deployments: realistic node folders for ``rubix-sync demo``, tests and benchmarks.

:func:`make_deployment` writes node folders with a Rubix-schema ``rubix.db`` and a kubo flatfs
repo holding the real token blocks (optionally with planted faults); :func:`create_node_db`
builds a single node database of either schema generation from rows.
"""

from rubix_sync.demo._generate import (
    FAULT_FT_NAME,
    FAULT_MISSING,
    FAULT_NFT_JSON,
    FAULT_RBT_GARBAGE,
    FAULT_TAMPERED,
    FETCH_FAULTS,
    SCHEMA_MIXED,
    VALIDATION_FAULTS,
    DeploymentInfo,
    make_deployment,
)
from rubix_sync.demo.content import (
    ft_content,
    make_did,
    nft_content,
    rbt_content,
    signed_block_hex,
)
from rubix_sync.demo.nodedb import (
    GEN_2025_03,
    GEN_LATE_2025,
    GENERATIONS,
    SCHEMAS,
    create_node_db,
    insert_rows,
    table_ddl,
)

__all__ = [
    "FAULT_FT_NAME",
    "FAULT_MISSING",
    "FAULT_NFT_JSON",
    "FAULT_RBT_GARBAGE",
    "FAULT_TAMPERED",
    "FETCH_FAULTS",
    "GENERATIONS",
    "GEN_2025_03",
    "GEN_LATE_2025",
    "SCHEMAS",
    "SCHEMA_MIXED",
    "VALIDATION_FAULTS",
    "DeploymentInfo",
    "create_node_db",
    "ft_content",
    "insert_rows",
    "make_deployment",
    "make_did",
    "nft_content",
    "rbt_content",
    "signed_block_hex",
    "table_ddl",
]
