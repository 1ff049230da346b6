"""The resource types Search serves: the request's ``Resource`` -> store kind, record key and model shape."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SearchType:
    resource: str  # the request's Resource, e.g. "ExperimentTrialComponent"
    kind: str  # the store kind (domain.arns.KINDS)
    record_key: str  # the SearchRecord member wrapping each hit, e.g. "TrialComponent"
    shape: str  # the botocore shape of that member, whose members are the searchable properties
    status_property: str = ""  # the property the store keeps as the resource's status column, if any

    @property
    def columns(self) -> dict[str, str]:
        """Properties answered from the store's columns rather than the document."""
        out = {"CreationTime": "created", "LastModifiedTime": "modified"}
        if self.status_property:
            out[self.status_property] = "status"
        return out


SEARCH_TYPES: dict[str, SearchType] = {t.resource: t for t in (
    SearchType("TrainingJob", "training-job", "TrainingJob", "TrainingJob", "TrainingJobStatus"),
    SearchType("Experiment", "experiment", "Experiment", "Experiment"),
    SearchType("ExperimentTrial", "experiment-trial", "Trial", "Trial"),
    SearchType("ExperimentTrialComponent", "experiment-trial-component", "TrialComponent", "TrialComponent"),
    SearchType("ModelPackage", "model-package", "ModelPackage", "ModelPackage", "ModelPackageStatus"),
    SearchType("ModelPackageGroup", "model-package-group", "ModelPackageGroup", "ModelPackageGroup",
               "ModelPackageGroupStatus"),
    SearchType("Pipeline", "pipeline", "Pipeline", "Pipeline"),
    SearchType("PipelineExecution", "pipeline-execution", "PipelineExecution", "PipelineExecution",
               "PipelineExecutionStatus"),
    SearchType("HyperParameterTuningJob", "hyper-parameter-tuning-job", "HyperParameterTuningJob",
               "HyperParameterTuningJobSearchEntity", "HyperParameterTuningJobStatus"),
)}
