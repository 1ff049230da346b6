"""SageMaker Projects: a template's resources, created together, tagged together, deleted together.

CreateProject names a built-in template by ``ServiceCatalogProvisioningDetails.ProductId``
(:mod:`shipyard.projects.templates`) and stores the project as ``CreateInProgress``; the project controller
(:mod:`shipyard.controllers.project`) provisions it (:func:`provision`) to ``CreateCompleted`` or ``CreateFailed``
and then runs it on every tick (:func:`run_build`, :func:`run_deploy`). DeleteProject moves it to
``DeleteInProgress``; the controller removes what it created (:func:`deprovision`; S3 data is kept, as a
CloudFormation stack keeps its buckets) and then the record. Everything a project creates carries the tags
``sagemaker:project-name`` and ``sagemaker:project-id``, as on AWS. ``ProjectId`` is ``p-`` + 12 lowercase
letters and digits.

Model building and training: a seed repository (a bare repository the server hosts, recorded as the code
repository ``<project>-<id>-modelbuild``, served at ``/git/<name>.git``: :mod:`shipyard.git.http`), the model
package group ``<project>-<id>``, and the pipeline ``<project>-<id>``, which is (re)defined from the repository's
``pipelines/pipeline.json`` and run on every new commit of ``main`` (the first run is the seed commit's, as AWS's
CodePipeline runs at creation). The commit's files are uploaded to
``s3://sagemaker-<region>-<account>/<project>-<id>/code/<commit>/`` and the run gets ``CodeUri``,
``ArtifactsUri``, ``ModelPackageGroupName`` and ``RoleArn`` as parameters (those the definition declares). A
push is seen by reading the branch's ref in the hosted repository on every controller tick (a file read, no
process). The commit is the run's ClientRequestToken, so a restart never starts a commit twice. Each commit's
outcome (its execution, or why it was not run) is logged to ``/aws/codebuild/sagemaker-<project>-<id>-modelbuild``.

Model deployment: watches ``SourceModelPackageGroupName``. The newest Approved version goes to the endpoint
``<project>-staging`` (created on the first approval, rolled onto later ones); a version already on staging whose
CustomerMetadataProperties say ``ProductionApproval = Approved`` (the second approval, recorded on the package
with UpdateModelPackage, where AWS's template has a manual approval action in CodePipeline) goes to
``<project>-prod``. Both stages go through :func:`shipyard.resources.deploy_on_approval.deploy_to`, which records
each stage's outcome on the package (``_deploy:<project-id>:staging`` / ``...:prod``) so nothing deploys twice.
"""

from __future__ import annotations

import re
import secrets
import string
import tempfile
import time
from pathlib import Path
from typing import Any

from ..context import Services
from ..errors import MissingResource, ResourceInUse, ValidationError
from ..git import repos
from ..metastore.base import ListQuery, LogEvent, Resource
from ..projects import templates
from . import code_repository, deploy_on_approval, model_package_group
from . import pipeline as pipeline_resource

KIND = "project"
PACKAGE_KIND = "model-package"
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}$")
DETAILS = "ServiceCatalogProvisioningDetails"
LIVE = ("CreateCompleted", "UpdateCompleted")
DEFINITION_PATH = "pipelines/pipeline.json"
DEFAULT_ROLE = "arn:aws:iam::{account}:role/service-role/AmazonSageMakerServiceCatalogProductsUseRole"
TAG_NAME, TAG_ID = "sagemaker:project-name", "sagemaker:project-id"


def new_id() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "p-" + "".join(secrets.choice(alphabet) for _ in range(12))


def project_tags(doc: dict) -> list[dict]:
    return [{"Key": TAG_NAME, "Value": doc["ProjectName"]}, {"Key": TAG_ID, "Value": doc["ProjectId"]}]


def public(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def _base(doc: dict) -> str:
    """``<project>-<id>``: the name of the group and the pipeline a project creates (at most 47 characters)."""
    return f"{doc['ProjectName']}-{doc['ProjectId']}"


# -- API operations --------------------------------------------------------------------------------------------
def _template(details: dict, field: str = DETAILS) -> templates.Template:
    product = details.get("ProductId") or ""
    found = templates.TEMPLATES.get(product)
    if found is None:
        raise ValidationError(f"{field}.ProductId {product!r} is not a project template: use one of "
                              + ", ".join(f"{t.product_id} ({t.title})" for t in templates.TEMPLATES.values()) + ".")
    _check_artifact(details, field)
    return found


def _check_artifact(details: dict, field: str) -> None:
    artifact = details.get("ProvisioningArtifactId")
    if artifact and artifact != templates.ARTIFACT:
        raise ValidationError(f"{field}.ProvisioningArtifactId {artifact!r} is not a version of this template: "
                              f"use {templates.ARTIFACT} (or leave it out).")


def _parameters(services: Services, template: templates.Template, given: list[dict], field: str) -> dict:
    values = {p["Key"]: p.get("Value", "") for p in given or []}
    unknown = sorted(set(values) - set(template.parameters))
    if unknown:
        raise ValidationError(f"{field}.ProvisioningParameters: {', '.join(unknown)} is not a parameter of "
                              f"{template.product_id}; it takes {', '.join(template.parameters) or 'none'}.")
    missing = [k for k in template.required if not values.get(k)]
    if missing:
        raise ValidationError(f"{field}.ProvisioningParameters needs {', '.join(missing)} for "
                              f"{template.product_id}.")
    if values.get(templates.SOURCE_GROUP):
        try:
            model_package_group.get(services, values[templates.SOURCE_GROUP])
        except ValidationError:
            raise ValidationError(f"{field}.ProvisioningParameters {templates.SOURCE_GROUP} "
                                  f"{values[templates.SOURCE_GROUP]!r} names no model package group: create it "
                                  "(or the building project that creates it) first.") from None
    return values


def get(services: Services, name: str) -> Resource:
    found = services.meta.find(KIND, name)
    if found is None:
        raise ValidationError(f"Project {name!r} does not exist: ListProjects lists the projects there are.")
    return found


def create(services: Services, params: dict) -> dict:
    name = params["ProjectName"]
    if not _NAME.match(name):
        raise ValidationError(f"ProjectName {name!r} must be 1-32 letters, digits and hyphens, starting and ending "
                              "with a letter or digit.")
    details = params.get(DETAILS)
    if not details:
        raise ValidationError(f"{DETAILS} is required: give ProductId {templates.BUILD} or {templates.DEPLOY}.")
    template = _template(details)
    _parameters(services, template, details.get("ProvisioningParameters") or [], DETAILS)
    pid = new_id()
    arn = services.arn(KIND, name)
    now = time.time()
    doc: dict[str, Any] = {"ProjectArn": arn, "ProjectName": name, "ProjectId": pid,
                           "ServiceCatalogProvisioningDetails": details, "CreationTime": now, "CreatedBy": {},
                           "_tags": list(params.get("Tags") or []), "_created": {}}
    if params.get("ProjectDescription"):
        doc["ProjectDescription"] = params["ProjectDescription"]
    try:
        services.meta.create(KIND, name, arn, "CreateInProgress", doc)
    except ResourceInUse:
        raise ValidationError(f"Project {name!r} already exists: project names are unique within an account and "
                              "region.") from None
    services.wake(KIND)
    return {"ProjectArn": arn, "ProjectId": pid}


def describe(services: Services, name: str) -> dict:
    r = get(services, name)
    out = public(r.doc)
    out.update({"ProjectStatus": r.status, "LastModifiedTime": r.modified, "ServiceCatalogProvisionedProductDetails": {
        "ProvisionedProductId": "pp-" + r.doc["ProjectId"][2:],
        "ProvisionedProductStatusMessage": r.doc.get("_message") or r.status}})
    return out


def summary(r: Resource) -> dict:
    out = {"ProjectName": r.name, "ProjectArn": r.arn, "ProjectId": r.doc["ProjectId"], "CreationTime": r.created,
           "ProjectStatus": r.status}
    if r.doc.get("ProjectDescription"):
        out["ProjectDescription"] = r.doc["ProjectDescription"]
    return out


def update(services: Services, params: dict) -> dict:
    """UpdateProject: description, tags (merged), and the provisioning parameters of the same template."""
    r = get(services, params["ProjectName"])
    if r.status not in LIVE:
        raise ValidationError(f"Project {r.name} is {r.status}: only a project in CreateCompleted or "
                              "UpdateCompleted can be updated.")
    changes: dict[str, Any] = {}
    if params.get("ProjectDescription") is not None:
        changes["ProjectDescription"] = params["ProjectDescription"]
    if params.get("Tags"):
        merged = {t["Key"]: t.get("Value", "") for t in r.doc.get("_tags") or []}
        merged.update({t["Key"]: t.get("Value", "") for t in params["Tags"]})
        changes["_tags"] = [{"Key": k, "Value": v} for k, v in merged.items()]
    update_details = params.get("ServiceCatalogProvisioningUpdateDetails")
    if update_details:
        field = "ServiceCatalogProvisioningUpdateDetails"
        _check_artifact(update_details, field)
        old = dict(r.doc["ServiceCatalogProvisioningDetails"])
        template = templates.TEMPLATES[old["ProductId"]]
        if update_details.get("ProvisioningParameters") is not None:
            _parameters(services, template, update_details["ProvisioningParameters"], field)
            old["ProvisioningParameters"] = update_details["ProvisioningParameters"]
        changes["ServiceCatalogProvisioningDetails"] = old
    services.meta.update(KIND, r.name, changes, status="UpdateCompleted")
    services.wake(KIND)
    return {"ProjectArn": r.arn}


def delete(services: Services, name: str) -> None:
    r = get(services, name)
    if r.status != "DeleteInProgress":
        services.meta.update(KIND, r.name, status="DeleteInProgress")
    services.wake(KIND)


# -- provisioning (the controller calls these) -----------------------------------------------------------------
def parameters_of(doc: dict) -> dict:
    details = doc.get("ServiceCatalogProvisioningDetails") or {}
    return {p["Key"]: p.get("Value", "") for p in details.get("ProvisioningParameters") or []}


def product_of(doc: dict) -> str:
    return str((doc.get("ServiceCatalogProvisioningDetails") or {}).get("ProductId"))


def bucket_of(services: Services) -> str:
    """The SageMaker SDK's default bucket: where a project's code snapshots and artifacts go."""
    return f"sagemaker-{services.region}-{services.account}"


def provision(services: Services, r: Resource) -> dict:
    """Create what the project's template creates; returns the record of it (stored as ``_created``). Each piece
    is recorded as soon as it exists, so a failure part-way leaves nothing that deletion would miss."""
    if product_of(r.doc) != templates.BUILD:
        model_package_group.get(services, parameters_of(r.doc)[templates.SOURCE_GROUP])
        return {"endpoints": [f"{r.name}-staging", f"{r.name}-prod"]}
    tags = project_tags(r.doc)
    created: dict[str, Any] = dict(r.doc.get("_created") or {})
    base = _base(r.doc)
    repo_name = f"{base}-modelbuild"
    bare = repos.hosted_path(services.settings.home, repo_name)
    if "repository" not in created:
        repos.init_bare(bare)
        repos.commit_files(repos.file_url(bare), templates.seed_files(), "Seed code of the model building project")
        created["repository"] = repo_name
        services.meta.update(KIND, r.name, {"_created": created})
    if services.meta.find(code_repository.KIND, repo_name) is None:
        code_repository.create(services, {"CodeRepositoryName": repo_name, "GitConfig": {
            "RepositoryUrl": repos.file_url(bare), "Branch": repos.DEFAULT_BRANCH}}, tags=tags, hosted=True)
    if services.meta.find(model_package_group.KIND, base) is None:
        model_package_group.create(services, {"ModelPackageGroupName": base, "Tags": tags,
                                              "ModelPackageGroupDescription": f"Models of project {r.name}"})
    created.update({"group": base, "pipeline": base})
    if not services.objects.bucket_exists(bucket_of(services)):
        services.objects.create_bucket(bucket_of(services))
    return created


def deprovision(services: Services, r: Resource) -> None:
    """Delete what :func:`provision` and the project's runs created (S3 data stays)."""
    created = r.doc.get("_created") or {}
    if created.get("pipeline") and services.meta.find(pipeline_resource.KIND, created["pipeline"]) is not None:
        pipeline_resource.delete(services, {"PipelineName": created["pipeline"]})
    if created.get("group") and services.meta.find(model_package_group.KIND, created["group"]) is not None:
        for package in _packages(services, created["group"]):
            services.meta.delete(PACKAGE_KIND, package.name)
        model_package_group.delete(services, created["group"])
    if created.get("repository"):
        if services.meta.find(code_repository.KIND, created["repository"]) is not None:
            code_repository.delete(services, created["repository"])
        repos.remove(repos.hosted_path(services.settings.home, created["repository"]))
    for endpoint in created.get("endpoints") or []:
        _delete_endpoint(services, endpoint)
    group = parameters_of(r.doc).get(templates.SOURCE_GROUP)
    if group:
        for package in _packages(services, group):
            for stage in ("staging", "prod"):
                record = package.doc.get(_stage_key(r.doc, stage)) or {}
                _forget(services, "endpoint-config", record.get("EndpointConfigName"))
                _forget(services, "model", record.get("ModelName"))


def _forget(services: Services, kind: str, name: str | None) -> None:
    if name:
        try:
            services.meta.delete(kind, name)
        except MissingResource:
            pass


def _delete_endpoint(services: Services, name: str) -> None:
    """DeleteEndpoint's effect (the hosting controller stops its instances and removes it)."""
    found = services.meta.find("endpoint", name)
    if found is not None and found.status != "Deleting":
        services.meta.update("endpoint", name, {"EndpointStatus": "Deleting", "LastModifiedTime": time.time()},
                             status="Deleting")
        services.wake("endpoint")


def _packages(services: Services, group: str) -> list[Resource]:
    out: list[Resource] = []
    token = None
    for _ in range(10_000):  # pages of 100; bounded
        page = services.meta.list(PACKAGE_KIND, ListQuery(parent=group.lower(), max_results=100, next_token=token,
                                                           sort_by="created", descending=False))
        out.extend(page.items)
        token = page.next_token
        if not token:
            break
    return out


# -- model building: a push runs the pipeline ------------------------------------------------------------------
def run_build(services: Services, r: Resource) -> str | None:
    """When ``main`` of the project's repository has a commit not run yet: (re)define the pipeline from it and
    start a run. Returns the execution ARN started, or None. A commit whose definition is refused is recorded on
    the project (``_last_build``) and not retried."""
    created = r.doc.get("_created") or {}
    repo = services.meta.find(code_repository.KIND, created["repository"])  # a user may have deleted the record
    branch = ((repo.doc.get("GitConfig") or {}).get("Branch") if repo else None) or repos.DEFAULT_BRANCH
    commit = repos.local_head(repos.hosted_path(services.settings.home, created["repository"]), branch)
    if not commit or commit == (r.doc.get("_last_build") or {}).get("Commit"):
        return None
    record: dict[str, Any] = {"Commit": commit, "Time": time.time()}
    try:
        record["PipelineExecutionArn"] = _run_commit(services, r, created, commit)
        record["Status"] = "Started"
        line = f"commit {commit}: started pipeline execution {record['PipelineExecutionArn']}"
    except ValidationError as e:
        record.update({"Status": "Refused", "Error": e.message})
        line = f"commit {commit}: not run: {e.message}"
    services.meta.update(KIND, r.name, {"_last_build": record})
    now = time.time()
    services.meta.append_logs(build_log_group(r.doc), commit, [LogEvent(now, line, now)])
    return record.get("PipelineExecutionArn")


def build_log_group(doc: dict) -> str:
    """Where each commit's outcome is logged (stream: the commit), named as AWS's template names the CodeBuild
    project that runs the pipeline: a push whose definition is refused is explained there."""
    return f"/aws/codebuild/sagemaker-{_base(doc)}-modelbuild"


def _run_commit(services: Services, r: Resource, created: dict, commit: str) -> str:
    bare = repos.hosted_path(services.settings.home, created["repository"])
    bucket, base = bucket_of(services), _base(r.doc)
    with tempfile.TemporaryDirectory(prefix="shipyard-project-") as tmp:
        tree = Path(tmp) / "tree"
        repos.export(bare, commit, tree)
        definition_file = tree / DEFINITION_PATH
        if not definition_file.is_file():
            raise ValidationError(f"Commit {commit[:12]} has no {DEFINITION_PATH}: the project's pipeline is "
                                  "defined by that file.")
        text = definition_file.read_text()
        code_uri = f"s3://{bucket}/{base}/code/{commit}/"
        services.objects.upload_dir(tree, code_uri)
    definition = pipeline_resource.check_definition(text)
    role = DEFAULT_ROLE.format(account=services.account)
    name = created["pipeline"]
    request = {"PipelineName": name, "PipelineDefinition": text, "RoleArn": role,
               "PipelineDescription": f"Model building pipeline of project {r.name}",
               "Tags": project_tags(r.doc)}
    if services.meta.find(pipeline_resource.KIND, name) is None:
        pipeline_resource.create(services, request)
        services.meta.update(pipeline_resource.KIND, name, {"_tags": project_tags(r.doc)})
    else:
        pipeline_resource.update(services, {k: v for k, v in request.items() if k != "Tags"})
    values = {"CodeUri": code_uri, "ArtifactsUri": f"s3://{bucket}/{base}/artifacts/",
              "ModelPackageGroupName": created["group"], "RoleArn": role}
    declared = set(definition.parameters)
    started = pipeline_resource.start(services, {
        "PipelineName": name, "ClientRequestToken": commit, "PipelineExecutionDescription": f"commit {commit}",
        "PipelineParameters": [{"Name": k, "Value": v} for k, v in values.items() if k in declared]})
    return str(started["PipelineExecutionArn"])


# -- model deployment: approval -> staging -> production -------------------------------------------------------
def _stage_key(doc: dict, stage: str) -> str:
    return f"_deploy:{doc['ProjectId']}:{stage}"


def run_deploy(services: Services, r: Resource) -> list[str]:
    """Deploy what approvals ask for; returns the stages deployed now (``staging``, ``prod``)."""
    group = parameters_of(r.doc).get(templates.SOURCE_GROUP)
    if not group:
        return []
    packages = sorted(_packages(services, group), key=lambda p: int(p.doc.get("ModelPackageVersion") or 0))
    done: list[str] = []
    tags = project_tags(r.doc)
    approved = [p for p in packages if p.doc.get("ModelApprovalStatus") == "Approved"]
    if approved and not approved[-1].doc.get(_stage_key(r.doc, "staging")) and \
            not _busy(services, f"{r.name}-staging"):
        if deploy_on_approval.deploy_to(services, approved[-1].arn, f"{r.name}-staging",
                                        key=_stage_key(r.doc, "staging"), tags=tags):
            done.append("staging")
    on_staging = [p for p in approved
                  if (p.doc.get(_stage_key(r.doc, "staging")) or {}).get("Status") == "Deployed"
                  and (p.doc.get("CustomerMetadataProperties") or {}).get(templates.PRODUCTION_APPROVAL) == "Approved"]
    if on_staging and not on_staging[-1].doc.get(_stage_key(r.doc, "prod")) and not _busy(services, f"{r.name}-prod"):
        if deploy_on_approval.deploy_to(services, on_staging[-1].arn, f"{r.name}-prod",
                                        key=_stage_key(r.doc, "prod"), tags=tags):
            done.append("prod")
    return done


def _busy(services: Services, endpoint: str) -> bool:
    """The stage's endpoint is being created or updated: the next version waits for it (an endpoint takes one
    change at a time)."""
    found = services.meta.find("endpoint", endpoint)
    return found is not None and found.status not in ("InService", "Failed")


def stages_of(services: Services, r: Resource) -> list[dict]:
    """What each stage of a deployment project serves (for the console): stage, endpoint, package, status."""
    group = parameters_of(r.doc).get(templates.SOURCE_GROUP)
    out = []
    for stage in ("staging", "prod"):
        latest: dict[str, Any] = {"Stage": stage, "EndpointName": f"{r.name}-{stage}"}
        for p in _packages(services, group) if group else []:
            record = p.doc.get(_stage_key(r.doc, stage))
            if record and record.get("Time", 0) >= latest.get("Time", 0):
                latest.update({"ModelPackageArn": p.arn, "Status": record.get("Status"), "Time": record.get("Time"),
                               "Error": record.get("Error")})
        out.append(latest)
    return out

