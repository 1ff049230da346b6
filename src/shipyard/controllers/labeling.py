"""Labeling jobs: create the tasks, pre-label them, consolidate answers, keep the counters, write the output.

Each reconcile reads the store, so a restart resumes:

- ``Initializing``: read the manifest again, create one task per data object (skipping those already there),
  ask the pre-labeling endpoint for each object's starting answer when the job names one, then InProgress.
- ``InProgress``: consolidate every Answered task (one consolidation-response file a pass), expire open tasks
  once TaskAvailabilityLifetimeInSeconds has passed, refresh LabelCounters; a met StoppingCondition stops the
  job; when no task is open any more, the output manifest is written and the job is Completed.
- ``Stopping`` (StopLabelingJob or a stopping condition): answered tasks are still consolidated, then the
  output manifest (the labeled objects) is written and the job is Stopped.

The output manifest holds the labeled objects only, in manifest order, each line the input line plus
``<LabelAttributeName>`` and its ``-metadata`` (:mod:`shipyard.labeling.output`).
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

import orjson

from ..domain.s3_uri import parse_s3_uri
from ..errors import ConflictError
from ..labeling import output as layout
from ..labeling.manifest import parse_manifest
from ..labeling.prelabel import starting_answer
from ..metastore.base import Resource
from ..resources import labeling_job as lj
from .base import Controller

log = logging.getLogger("shipyard.controllers.labeling")
PRELABEL_TIMEOUT_S = 30.0


class LabelingController(Controller):
    kind = lj.KIND
    tick = 1.0

    def reconcile_all(self) -> None:
        for r in self.services.meta.list_in_status(lj.KIND, lj.ACTIVE):
            try:
                getattr(self, f"_on_{r.status.lower()}")(r)
            except ConflictError:  # a worker or StopLabelingJob changed a record meanwhile: next tick resumes
                continue
            except Exception as e:  # one job's failure must not stop the others
                log.exception("labeling job %s: %s", r.name, e)
                self.services.meta.update(lj.KIND, r.name, {"FailureReason": f"{type(e).__name__}: {e}"[:1024]},
                                          status="Failed")

    # -- Initializing ---------------------------------------------------------------------------------------
    def _on_initializing(self, r: Resource) -> None:
        meta, objects = self.services.meta, self.services.objects
        template = lj.template_of(r)
        uri = r.doc["InputConfig"]["DataSource"]["S3DataSource"]["ManifestS3Uri"]
        bucket, key = parse_s3_uri(uri)
        items = parse_manifest(objects.get_bytes(bucket, key), uri, template.task.media)
        endpoint = str(r.doc.get("_PrelabelEndpoint") or "")
        runtime = self._runtime() if endpoint else None
        for i, obj in enumerate(items):
            name = lj.task_name(r.name, i)
            if meta.find(lj.TASK, name) is not None:
                continue
            doc: dict[str, Any] = {"Job": r.name, "Index": i, "Object": obj, "Answers": {}, "Leases": {}}
            if runtime is not None:
                doc.update(self._prelabel(runtime, endpoint, template, obj))
            meta.create(lj.TASK, name, f"{r.arn}/task/{i}", "Pending", doc, parent=r.name)
        lifetime = r.doc["HumanTaskConfig"].get("TaskAvailabilityLifetimeInSeconds") or lj.DEFAULT_LIFETIME_S
        meta.update(lj.KIND, r.name, {"_AvailableUntil": time.time() + lifetime, "LastModifiedTime": time.time()},
                    status="InProgress", expect_status=("Initializing",))

    def _runtime(self):
        import boto3
        from botocore.config import Config

        s = self.services.settings
        return boto3.client("sagemaker-runtime", endpoint_url=s.endpoint_url, region_name=s.region,
                            aws_access_key_id=s.access_key_id, aws_secret_access_key=s.secret_access_key,
                            config=Config(read_timeout=PRELABEL_TIMEOUT_S, retries={"max_attempts": 1}))

    def _prelabel(self, runtime: Any, endpoint: str, template, obj: dict) -> dict:
        """The data object's starting answer from the endpoint (see :mod:`shipyard.labeling.prelabel`)."""
        try:
            if obj.get("source") is not None:
                body, content_type = str(obj["source"]).encode("utf-8"), "text/plain"
            else:
                bucket, key = parse_s3_uri(obj["source-ref"])
                body = self.services.objects.get_bytes(bucket, key)
                content_type = "text/plain" if template.task.media == "text" else "application/x-image"
            out = runtime.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType=content_type,
                                          Accept="application/json")
            answer = starting_answer(template.task, template.labels, out["Body"].read())
        except Exception as e:  # noqa: BLE001 - a failed prediction only means no starting answer
            return {"PrelabelError": f"{type(e).__name__}: {e}"[:500]}
        return {"Prelabel": answer} if answer is not None else {"PrelabelError": "the prediction gave no answer"}

    # -- InProgress / Stopping ----------------------------------------------------------------------------------
    def _on_inprogress(self, r: Resource) -> None:
        self._advance(r, stopping=False)

    def _on_stopping(self, r: Resource) -> None:
        self._advance(r, stopping=True)

    def _advance(self, r: Resource, stopping: bool) -> None:
        meta = self.services.meta
        template = lj.template_of(r)
        now = time.time()
        expired = now > float(r.doc.get("_AvailableUntil") or now + 1)
        tasks = list(lj.tasks_of(self.services, r.name))
        consolidated = []
        for t in tasks:
            try:
                if t.status == "Answered":
                    answers = [a["answer"] for a in t.doc["Answers"].values()]
                    value, extra = layout.consolidate(template.task, template.labels, answers)
                    label = layout.label_fields(r.doc["LabelAttributeName"], template.task, r.name, now, value,
                                                extra)
                    meta.update(lj.TASK, t.name, {"Label": label}, status="Labeled", expect_status=("Answered",))
                    consolidated.append({"datasetObjectId": str(t.doc["Index"]),
                                         "consolidatedAnnotation": {"content": label}})
                elif t.status == "Pending" and expired:
                    meta.update(lj.TASK, t.name, {"Leases": {}}, status="Expired", expect_status=("Pending",))
            except ConflictError:  # a worker answered it meanwhile: the next pass sees it
                continue
        if consolidated:
            stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.gmtime(now)) + f"-{secrets.token_hex(3)}"
            self.services.objects.put_object(r.doc["_OutBucket"], layout.consolidation_key(r.doc["_OutPrefix"], stamp),
                                             orjson.dumps(consolidated), content_type="application/json")
        tasks = list(lj.tasks_of(self.services, r.name))
        counts = {s: sum(1 for t in tasks if t.status == s) for s in ("Pending", "Answered", "Labeled", "Failed")}
        labeled = counts["Labeled"]
        counters = {"TotalLabeled": labeled, "HumanLabeled": labeled, "MachineLabeled": 0,
                    "FailedNonRetryableError": counts["Failed"], "Unlabeled": len(tasks) - labeled - counts["Failed"]}
        if counters != r.doc["LabelCounters"]:
            r = meta.update(lj.KIND, r.name, {"LabelCounters": counters, "LastModifiedTime": now})
        if not stopping and self._stopping_condition_met(r, labeled):
            stopping = True
        if stopping:
            if counts["Answered"] == 0:
                self._finish(r, tasks, "Stopped")
        elif counts["Pending"] == 0 and counts["Answered"] == 0:
            self._finish(r, tasks, "Completed")

    @staticmethod
    def _stopping_condition_met(r: Resource, labeled: int) -> bool:
        cond = r.doc.get("StoppingConditions") or {}
        if cond.get("MaxHumanLabeledObjectCount") and labeled >= cond["MaxHumanLabeledObjectCount"]:
            return True
        pct = cond.get("MaxPercentageOfInputDatasetLabeled")
        return bool(pct) and labeled * 100 >= pct * max(1, r.doc["_Objects"])

    def _finish(self, r: Resource, tasks: list[Resource], status: str) -> None:
        lines = [orjson.dumps({**t.doc["Object"], **t.doc["Label"]}) for t in tasks if t.status == "Labeled"]
        key = layout.output_manifest_key(r.doc["_OutPrefix"])
        self.services.objects.put_object(r.doc["_OutBucket"], key, b"\n".join(lines) + (b"\n" if lines else b""),
                                         content_type="application/jsonlines")
        out = {"OutputDatasetS3Uri": f"s3://{r.doc['_OutBucket']}/{key}"}
        self.services.meta.update(lj.KIND, r.name, {"LabelingJobOutput": out, "LastModifiedTime": time.time()},
                                  status=status, expect_status=("InProgress", "Stopping"))
