"""QueryLineage of depth 10 over 10,000 lineage entities, on SQLite and PostgreSQL, against the 100 ms target
(issue 16).

The graph: 800 lineages shaped like a training run's (data set -> trial component -> model -> deployment
-> endpoint, then five more derived artifacts: a 10-entity chain each, 8,000 entities), plus one binary tree
of 2,047 artifacts (11 levels) whose root's descendants at depth 10 are all 2,046 of them. Entities and edges
are written as the store's ``create`` / ``add_association`` write them, in bulk. Each query runs
``--repeat`` times through ``resources.lineage_graph.query`` (what the QueryLineage handler calls; HTTP and
JSON encoding add a few ms on top, see bench_wire):

- chain-up: Ascendants, depth 10, from the end of one chain (9 vertices)
- chain-both: Both, depth 10, from the middle of a chain, edges included
- chain-filter: Ascendants with Filters Types=[DataSet] (the SDK's dataset_artifacts())
- tree-down: Descendants, depth 10, from the tree's root (2,046 vertices, 10 levels)
- tree-up: Ascendants, depth 10, from a leaf of the tree (10 vertices)

    .venv/bin/python bench/bench_lineage.py [--chains 800] [--backends sqlite,postgresql] [--repeat 30]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from shipyard.config import Settings  # noqa: E402
from shipyard.context import Services  # noqa: E402
from shipyard.metastore.sql.schema import associations, resources  # noqa: E402
from shipyard.metastore.sql.store import SqlMetaStore, dump_doc  # noqa: E402
from shipyard.resources import lineage_graph  # noqa: E402
from shipyard.resources.lineage_entities import artifact_id, source_key  # noqa: E402

DEFAULT_PG = os.environ.get("SHIPYARD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
TARGET_MS = 100.0
CHAIN_TYPES = ["DataSet", "TrainingJob", "Model", "ModelDeployment", "Endpoint", "Report", "Report", "Report",
               "Report", "Report"]
TREE_LEVELS = 11


class Loader:
    """Collects artifact rows and edges as ``create`` and ``add_association`` would write them, then writes them
    in two large transactions (10,000 single-row commits take minutes on a busy PostgreSQL)."""

    def __init__(self, services: Services):
        self.services = services
        self.resources: list[dict] = []
        self.edges: list[dict] = []

    def artifact(self, uri: str, kind: str) -> str:
        source = {"SourceUri": uri}
        name = artifact_id(source)
        arn = self.services.arn("artifact", name)
        now = time.time()
        doc = {"ArtifactArn": arn, "Source": source, "ArtifactType": kind, "Properties": {}, "CreatedBy": {},
               "LastModifiedBy": {}}
        self.resources.append(dict(kind="artifact", name=name, name_key=name, arn=arn, status="Created",
                                   parent=source_key(uri), created=now, modified=now, version=1, doc=dump_doc(doc)))
        return arn

    def edge(self, src: str, dst: str, src_type: str, dst_type: str) -> None:
        self.edges.append(dict(source_arn=src, destination_arn=dst, association_type="ContributedTo",
                               source_type=src_type, destination_type=dst_type, source_name="",
                               destination_name="", created=time.time()))

    def write(self, store: SqlMetaStore) -> None:
        with store.engine.begin() as conn:
            conn.execute(resources.insert(), self.resources)
            conn.execute(associations.insert(), self.edges)


def build(services: Services, chains: int) -> dict[str, str]:
    t0 = time.perf_counter()
    load = Loader(services)
    ends: dict[str, str] = {}
    for c in range(chains):
        arns = [load.artifact(f"s3://bench/chain{c}/{i}", CHAIN_TYPES[i]) for i in range(len(CHAIN_TYPES))]
        for i in range(len(arns) - 1):
            load.edge(arns[i], arns[i + 1], CHAIN_TYPES[i], CHAIN_TYPES[i + 1])
        if c == chains // 2:
            ends["chain-end"], ends["chain-mid"] = arns[-1], arns[len(arns) // 2]
    tree = [load.artifact(f"s3://bench/tree/{i}", "DataSet") for i in range(2 ** TREE_LEVELS - 1)]
    for i in range(1, len(tree)):
        load.edge(tree[(i - 1) // 2], tree[i], "DataSet", "DataSet")
    ends["tree-root"], ends["tree-leaf"] = tree[0], tree[-1]
    assert isinstance(services.meta, SqlMetaStore)
    load.write(services.meta)
    print(f"  built {len(load.resources):,} entities and {len(load.edges):,} associations in "
          f"{time.perf_counter() - t0:.1f} s")
    return ends


def measure(services: Services, params: dict, repeat: int) -> tuple[float, float, int]:
    times, count = [], 0
    lineage_graph.query(services, params)  # warm the statement cache
    for _ in range(repeat):
        t0 = time.perf_counter()
        count = len(lineage_graph.query(services, params)["Vertices"])
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return statistics.median(times), times[max(0, int(round(0.95 * len(times))) - 1)], count


def run_backend(label: str, url: str, chains: int, repeat: int, home: Path) -> None:
    print(f"\n[{label}]")
    store = SqlMetaStore(url)
    services = Services(settings=Settings(home=home), meta=store, objects=None, runner=None)
    try:
        at = build(services, chains)
        queries = {
            "chain-up": {"StartArns": [at["chain-end"]], "Direction": "Ascendants", "MaxDepth": 10},
            "chain-both": {"StartArns": [at["chain-mid"]], "Direction": "Both", "MaxDepth": 10,
                           "IncludeEdges": True},
            "chain-filter": {"StartArns": [at["chain-end"]], "Direction": "Ascendants", "MaxDepth": 10,
                             "Filters": {"Types": ["DataSet"], "LineageTypes": ["Artifact"]}},
            "tree-down": {"StartArns": [at["tree-root"]], "Direction": "Descendants", "MaxDepth": 10},
            "tree-up": {"StartArns": [at["tree-leaf"]], "Direction": "Ascendants", "MaxDepth": 10},
        }
        print(f"  {'query':<14}{'vertices':>9}{'p50 ms':>9}{'p95 ms':>9}   target p95 < {TARGET_MS:.0f} ms")
        for name, params in queries.items():
            p50, p95, count = measure(services, params, repeat)
            verdict = "ok" if p95 < TARGET_MS else "OVER"
            print(f"  {name:<14}{count:>9}{p50:>9.1f}{p95:>9.1f}   {verdict}")
    finally:
        store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chains", type=int, default=800, help="10-entity lineages (plus a 2,047-node tree)")
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--pg-url", default=DEFAULT_PG)
    args = ap.parse_args()
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            if backend == "sqlite":
                run_backend("SQLite", f"sqlite:///{tmp}/meta.db", args.chains, args.repeat, Path(tmp))
                continue
            if backend != "postgresql":
                raise SystemExit(f"unknown backend {backend!r}: use sqlite and/or postgresql")
            schema = f"bench_lineage_{secrets.token_hex(4)}"
            try:
                import psycopg

                with psycopg.connect(args.pg_url, autocommit=True, connect_timeout=3) as conn:
                    conn.execute(f'CREATE SCHEMA "{schema}"')
            except Exception as exc:  # noqa: BLE001 - no server: say so and go on
                print(f"\n[PostgreSQL] skipped: not reachable at {args.pg_url} ({exc})")
                continue
            sep = "&" if "?" in args.pg_url else "?"
            try:
                run_backend("PostgreSQL", f"{args.pg_url}{sep}schema={schema}", args.chains, args.repeat, Path(tmp))
            finally:
                with psycopg.connect(args.pg_url, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    main()
