"""``python -m shipyard.wrangle.job [ContainerArguments...]``: what Data Wrangler's container does in a
processing job, on pandas.

As in AWS's exported "Save to S3 with a SageMaker Processing Job" notebook: the flow is the input staged at
``/opt/ml/processing/flow`` (``flow.flow``); each data source is read from the job's input whose S3 URI covers
the source's ``s3Uri`` (or whose InputName is the dataset's name), else from S3 with the job's credentials;
each output named ``<node_id>.<output_name>`` (``<node_id>.default``) receives that node's frame, on the full
data, in the format ``--output-config '{"<output name>": {"content_type": "CSV"}}'`` asks (CSV, the default,
or PARQUET). The arguments may come as the SDK sends them, a flag and its quoted JSON in one string. With
several instances the first host runs the flow and writes the outputs; the others finish at once.

A failure writes ``/opt/ml/output/message`` (the job's FailureReason) and exits 1."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path

OPT_ML = Path("/opt/ml")


def opt_ml_root(cwd: Path | None = None) -> Path:
    """``/opt/ml`` when the job's sandbox mounts it, else the working folder (the job's folder)."""
    if (OPT_ML / "config" / "processingjobconfig.json").exists():
        return OPT_ML
    here = Path(cwd or os.getcwd())
    return here if (here / "config" / "processingjobconfig.json").exists() else OPT_ML


def local_path(root: Path, container_path: str) -> Path:
    p = Path(container_path)
    return root / p.relative_to(OPT_ML) if p == OPT_ML or OPT_ML in p.parents else p


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    words = shlex.split(" ".join(argv))  # ["--output-config '{...}'"] as the SDK sends it, or split words
    parser = argparse.ArgumentParser(prog="data-wrangler")
    parser.add_argument("--output-config", default="{}")
    parser.add_argument("--refit-trained-params", default=None)
    parser.add_argument("--sample-rows", type=int, default=None)
    args, _ = parser.parse_known_args(words)
    return args


def _find_flow(root: Path, inputs: list[dict]) -> Path:
    default = root / "processing" / "flow" / "flow.flow"
    if default.exists():
        return default
    for item in inputs:
        if item.get("InputName") == "flow":
            found = sorted(local_path(root, item["S3Input"]["LocalPath"]).rglob("*.flow"))
            if found:
                return found[0]
    raise FileNotFoundError("no flow: stage the .flow file as the input named 'flow' at /opt/ml/processing/flow "
                            "(flow.flow)")


def make_locator(root: Path, inputs: list[dict], flow):
    """``locate(s3_uri)`` -> the staged local copy of that source, or None (read it from S3)."""
    staged = [(i["S3Input"]["S3Uri"].rstrip("/"), local_path(root, i["S3Input"]["LocalPath"]), i.get("InputName"))
              for i in inputs if (i.get("S3Input") or {}).get("S3Uri") and i.get("InputName") != "flow"]
    by_name = {}
    for node in flow.nodes.values():
        definition = node.parameters.get("dataset_definition") or {}
        uri = (definition.get("s3ExecutionContext") or {}).get("s3Uri")
        if uri and definition.get("name"):
            by_name[uri.rstrip("/")] = definition["name"]

    def locate(uri: str) -> str | None:
        uri = uri.rstrip("/")
        for s3_uri, folder, _ in staged:
            if uri == s3_uri:
                return str(folder)
            if uri.startswith(s3_uri + "/"):
                return str(folder / uri[len(s3_uri) + 1:])
        for _, folder, name in staged:
            if name and name == by_name.get(uri):
                return str(folder)
        return None

    return locate


def write_frame(df, folder: Path, content_type: str, job_name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if content_type.upper() == "PARQUET":
        path = folder / f"part-00000-{job_name}.parquet"
        df.to_parquet(path, index=False)
    else:
        path = folder / f"part-00000-{job_name}.csv"
        df.to_csv(path, index=False)
    return path


def _hosts(root: Path) -> tuple[str, str] | None:
    """(this host, the first host) from resourceconfig.json, or None without one."""
    try:
        resources = json.loads((root / "config" / "resourceconfig.json").read_text())
        return str(resources["current_host"]), str(sorted(resources["hosts"])[0])
    except (OSError, KeyError, IndexError, ValueError):
        return None


def run(root: Path, argv: list[str]) -> str:
    from .engine import Run
    from .flow import load

    config = json.loads((root / "config" / "processingjobconfig.json").read_text())
    hosts = _hosts(root)
    if hosts and hosts[0] != hosts[1]:  # Data Wrangler's Spark spreads one run over the hosts; here algo-1 runs it
        return f"{hosts[0]}: the flow runs on {hosts[1]}, which writes every output"
    args = parse_arguments(argv)
    output_config = json.loads(args.output_config or "{}")
    inputs = list(config.get("ProcessingInputs") or [])
    flow = load(_find_flow(root, inputs))
    outputs = list((config.get("ProcessingOutputConfig") or {}).get("Outputs") or [])
    if not outputs:
        raise ValueError("the job has no outputs: add a ProcessingOutput named '<node_id>.default' for each node "
                         "to save")
    engine = Run(flow, sample_rows=args.sample_rows, locate=make_locator(root, inputs, flow))
    written = []
    for out in outputs:
        name = out["OutputName"]
        node_id, _, output = name.rpartition(".")
        if not node_id or node_id not in flow.nodes:
            raise ValueError(f"output {name!r} does not name a flow node as '<node_id>.<output_name>' "
                             f"(the nodes: {', '.join(flow.nodes)})")
        frame = engine.frame(node_id, output or "default")
        content = str((output_config.get(name) or {}).get("content_type") or "CSV")
        path = write_frame(frame, local_path(root, out["S3Output"]["LocalPath"]), content,
                           config.get("ProcessingJobName", "job"))
        print(f"{name}: {len(frame)} rows, {frame.shape[1]} columns -> {path.name}", flush=True)
        written.append(name)
    return f"wrote {', '.join(written)}"


def main(argv: list[str] | None = None) -> int:
    root = opt_ml_root()
    try:
        print(run(root, list(sys.argv[1:] if argv is None else argv)), flush=True)
        return 0
    except Exception as e:  # noqa: BLE001 - the job's FailureReason
        from ..errors import ShipyardError

        text = e.message if isinstance(e, ShipyardError) else f"{type(e).__name__}: {e}"
        print(f"ClientError: {text}", file=sys.stderr, flush=True)
        try:
            (root / "output").mkdir(parents=True, exist_ok=True)
            (root / "output" / "message").write_text(f"ClientError: {text}"[:1024])
        except OSError:
            pass
        return 1


if __name__ == "__main__":
    sys.exit(main())
