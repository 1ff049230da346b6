"""The private state of pipelines and pipeline executions: the ``_`` keys of their stored documents, typed.

A pipeline's document is its DescribePipeline response plus its version history (``_versions``: every
definition it has had, for ListPipelineVersions and for executions started on an older version) and tags.

An execution's document is its DescribePipelineExecution response plus what the pipeline controller keeps
between ticks: the definition it runs (fixed at start, so UpdatePipeline never changes a running execution),
the bound parameters, the client request token, and one :class:`StepRecord` per step that has started.
Everything the controller knows is here, so a server killed mid-execution resumes from the store alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar

from .doc_state import DocState

# Step statuses as ListPipelineExecutionSteps reports them; ACTIVE ones keep the execution going.
STEP_ACTIVE = frozenset({"Starting", "Executing", "Stopping"})
STEP_TERMINAL = frozenset({"Succeeded", "Failed", "Stopped"})


@dataclass
class StepRecord:
    """One step of one execution. ``job`` is the child resource's name, fixed *before* it is created (so a
    restart between the two writes creates it once); ``properties`` is the child's Describe response once the
    step succeeded (what ``Get Steps.X...`` reads, and what a cache hit or a selective execution reuses)."""

    name: str
    type: str
    status: str
    start: float | None = None
    end: float | None = None
    attempt: int = 1
    first_started: float | None = None
    failure: str | None = None
    job: str | None = None                    # child job / model name
    job_kind: str | None = None               # its store kind ("training-job", ...)
    created: bool = False                     # the child exists (the create call returned)
    retry_at: float | None = None             # waiting to relaunch (a RetryPolicy matched) until then
    stop_sent: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Any] | None = None
    outcome: bool | None = None               # Condition steps
    cache_key: str | None = None
    cache_source: str | None = None           # CacheHitResult.SourcePipelineExecutionArn
    reused_from: str | None = None            # selective execution: the execution whose output this is
    callback_token: str | None = None
    message: dict[str, Any] | None = None     # Callback: the queue message (no SQS here)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StepRecord:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @property
    def active(self) -> bool:
        return self.status in STEP_ACTIVE


@dataclass
class PipelineState(DocState):
    """The ``_`` keys of a pipeline document."""

    KEYS: ClassVar[dict[str, str]] = {"versions": "_versions", "tags": "_tags"}

    versions: list[dict[str, Any]] | None = None   # [{PipelineVersionId, CreationTime, PipelineDefinition, ...}]
    tags: list[dict[str, Any]] | None = None

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> PipelineState:
        return cls(versions=doc.get("_versions"), tags=doc.get("_tags"))


@dataclass
class ExecutionState(DocState):
    """The ``_`` keys of a pipeline-execution document."""

    KEYS: ClassVar[dict[str, str]] = {
        "definition": "_definition", "parameters": "_parameters", "token": "_token", "steps": "_steps",
        "pipeline_name": "_pipeline", "tags": "_tags",
    }

    definition: str | None = None                  # the definition JSON this execution runs
    parameters: dict[str, Any] | None = None       # bound, typed parameter values
    token: str | None = None                       # ClientRequestToken of the start call
    steps: dict[str, StepRecord] | None = None
    pipeline_name: str | None = None
    tags: list[dict[str, Any]] | None = None

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ExecutionState:
        raw = doc.get("_steps")
        return cls(definition=doc.get("_definition"), parameters=doc.get("_parameters"), token=doc.get("_token"),
                   steps={k: StepRecord.from_dict(v) for k, v in raw.items()} if raw is not None else None,
                   pipeline_name=doc.get("_pipeline"), tags=doc.get("_tags"))

    @property
    def step_map(self) -> dict[str, StepRecord]:
        if self.steps is None:
            self.steps = {}
        return self.steps

    def _value(self, name: str) -> Any:
        value = getattr(self, name)
        if name == "steps" and value is not None:
            return {k: v.to_dict() for k, v in value.items()}
        return value


PRIVATE_KEYS = frozenset(PipelineState.KEYS.values()) | frozenset(ExecutionState.KEYS.values())
