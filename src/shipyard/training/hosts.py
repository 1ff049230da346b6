"""One model from several hosts: worker hosts hand their ``model/`` to algo-1, which merges and uploads it.

SageMaker merges the ``model/`` folders of all hosts into one ``model.tar.gz``. Here each worker host
(algo-2..N) uploads its folder as ``<parts>/<host>.tar.gz`` (an empty archive if it saved nothing, so algo-1
knows it is done); algo-1 waits for every part, unpacks them over a copy of its own folder and uploads the
result the usual way, then deletes the parts. The rule for name clashes: **the lowest host wins** (algo-1's
file is kept, then algo-2's, ...) and every clash is logged, so programs that save only on algo-1 (the usual
data-parallel rule, as XGBoost and torch DDP scripts do) or under host-specific names lose nothing.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from ..domain.paths import safe_join
from ..io.archives import safe_extract
from ..objectstore.base import ObjectStore, parse_s3_uri
from .packing import join_uri, upload_tarball

WAIT_STEP = 0.2


def upload_model_part(store: ObjectStore, model_dir: Path, parts_uri: str, host: str) -> str:
    model_dir.mkdir(parents=True, exist_ok=True)
    return upload_tarball(store, model_dir, join_uri(parts_uri, f"{host}.tar.gz"))


def _exists(store: ObjectStore, bucket: str, key: str) -> bool:
    try:
        store.head_object(bucket, key)
        return True
    except Exception:  # noqa: BLE001 - missing (S3Error NoSuchKey) or not yet visible
        return False


def merge_model_parts(store: ObjectStore, own_model: Path, parts_uri: str, hosts: list[str], dest: Path,
                      log=print, give_up=lambda: False) -> Path:
    """algo-1's ``model/`` merged with every other host's part into ``dest``; waits for the parts until
    ``give_up()`` (a stop, the deadline) and then merges what has arrived."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(own_model, dest) if own_model.is_dir() else dest.mkdir(parents=True)
    owner = {p.relative_to(dest).as_posix(): hosts[0] for p in dest.rglob("*") if p.is_file()}
    bucket, _ = parse_s3_uri(parts_uri)
    pending = [h for h in sorted(hosts)[1:]]
    keys = {h: parse_s3_uri(join_uri(parts_uri, f"{h}.tar.gz"))[1] for h in pending}
    merged = []
    while pending:
        ready = [h for h in pending if _exists(store, bucket, keys[h])]
        for host in ready:
            with tempfile.TemporaryDirectory(prefix="shipyard-part-") as tmp:
                archive = Path(tmp) / "part.tar.gz"
                store.download_file(bucket, keys[host], archive)
                unpacked = Path(tmp) / "model"
                safe_extract(archive, unpacked, what=f"model part of {host}")
                for f in sorted(p for p in unpacked.rglob("*") if p.is_file()):
                    rel = f.relative_to(unpacked).as_posix()
                    if rel in owner:
                        log(f"model merge: {rel} from {host} clashes with {owner[rel]}'s; keeping {owner[rel]}'s")
                        continue
                    target = safe_join(dest, rel, what="model file")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(str(f), target)
                    owner[rel] = host
            merged.append(host)
            pending.remove(host)
        if pending:
            if give_up():
                log(f"model merge: no model from {', '.join(pending)}; uploading what arrived")
                break
            time.sleep(WAIT_STEP)
    for host in merged:
        try:
            store.delete_object(bucket, keys[host])
        except Exception:  # noqa: BLE001 - a leftover part is harmless
            pass
    return dest
