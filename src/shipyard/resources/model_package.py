"""The model package resource: a model in the registry, versioned inside a group or standing alone.

CreateModelPackage with ``ModelPackageGroupName`` makes version N of that group (ARN
``…:model-package/<group>/<N>``, stored under the name ``<group>/<N>``); with ``ModelPackageName`` instead, an
unversioned package (``…:model-package/<name>``). Each container of its InferenceSpecification is checked as
CreateModel checks one, and its model artifact must exist in S3 (a package that cannot be deployed is refused
when it is registered, not when it is deployed). ModelMetrics, DriftCheckBaselines and MetadataProperties are
stored as given. Packages are Completed at once (no validation or image scan runs). Approval goes
PendingManualApproval -> Approved / Rejected, and between Approved and Rejected, never back to pending; creating
a package and every approval change publish a "SageMaker Model Package State Change" event
(:mod:`.model_package_events`). A package becoming Approved in a group tagged ``shipyard:deploy-on-approval``
then updates that endpoint to it (:mod:`.deploy_on_approval`).

Deploying: :func:`resolve_model_package_containers` turns CreateModel's ``{"ModelPackageName": arn}`` container
definitions into the package's containers, refusing a package that is not Approved when the server runs with
``require_approval``.
"""

from __future__ import annotations

from typing import Any

from ..context import Services
from ..domain.arns import name_from
from ..domain.model_package_state import PackageState
from ..errors import ConflictError, MissingResource, ResourceInUse, ValidationError
from ..metastore.base import ListQuery, Resource
from . import deploy_on_approval, model_package_events, model_package_group

KIND = "model-package"
SORT_KEYS = {"Name": "name", "CreationTime": "created"}
MAX_CUSTOMER_METADATA = 50
# approval status -> the statuses UpdateModelPackage may move it to (staying put is always allowed)
TRANSITIONS = {
    "PendingManualApproval": ("Approved", "Rejected"),
    "Approved": ("Rejected",),
    "Rejected": ("Approved",),
}
# request members stored as given when present
_STORED = ("ModelPackageDescription", "InferenceSpecification", "ValidationSpecification",
           "SourceAlgorithmSpecification", "MetadataProperties", "ModelMetrics", "Domain", "Task",
           "SamplePayloadUrl", "CustomerMetadataProperties", "DriftCheckBaselines",
           "AdditionalInferenceSpecifications", "SkipModelValidation", "SourceUri", "SecurityConfig", "ModelCard",
           "ModelLifeCycle", "ModelPackageRegistrationType")


def _store_name(name_or_arn: str) -> str:
    """The store's name of a package: ``<group>/<version>`` for a versioned one, else its name."""
    return name_from(name_or_arn)


def get(services: Services, name_or_arn: str) -> Resource:
    """The stored package (by ARN, ``<group>/<version>`` or an unversioned package's name)."""
    try:
        return services.meta.get(KIND, _store_name(name_or_arn))
    except MissingResource:
        raise ValidationError(f"Model package {name_or_arn!r} does not exist: give the ARN of an existing "
                              "package (ListModelPackages lists them).") from None


def _check_s3_object(services: Services, uri: str, what: str) -> None:
    from ..objectstore.base import is_s3_uri, parse_s3_uri

    if not is_s3_uri(uri):
        raise ValidationError(f"{what} {uri!r} is not a valid S3 URI: it must start with s3://.")
    bucket, key = parse_s3_uri(uri)
    if not services.objects.bucket_exists(bucket):
        raise ValidationError(f"{what} {uri!r}: the bucket {bucket!r} does not exist.")
    try:
        services.objects.head_object(bucket, key)
    except Exception:  # noqa: BLE001 - any backend's "no such key": the message says what to fix
        raise ValidationError(f"{what} {uri!r}: there is no such object in S3; upload the model artifact "
                              "first.") from None


def _check_inference_specification(services: Services, spec: dict, what: str = "InferenceSpecification") -> None:
    from ..algorithms.registry import check_image

    containers = spec.get("Containers") or []
    if not 1 <= len(containers) <= 15:
        raise ValidationError(f"{what}.Containers must hold 1 to 15 containers, not {len(containers)}.")
    for i, c in enumerate(containers):
        where = f"{what}.Containers[{i}]"
        if not c.get("Image"):
            raise ValidationError(f"{where} needs an Image.")
        try:
            check_image(c["Image"])
        except ValidationError as e:
            raise ValidationError(f"{where}.Image: {e.message}") from None
        if c.get("ModelDataUrl"):
            _check_s3_object(services, c["ModelDataUrl"], f"{where}.ModelDataUrl")


def _check_customer_metadata(props: dict) -> None:
    if len(props) > MAX_CUSTOMER_METADATA:
        raise ValidationError(f"CustomerMetadataProperties holds {len(props)} entries; at most "
                              f"{MAX_CUSTOMER_METADATA} are allowed.")


def create(services: Services, params: dict) -> dict:
    """Validate and store a CreateModelPackage request; publishes the package's first state-change event."""
    group_name, name = params.get("ModelPackageGroupName"), params.get("ModelPackageName")
    if group_name and name:
        raise ValidationError("Both ModelPackageName and ModelPackageGroupName are provided in the input: give "
                              "ModelPackageGroupName for a versioned package or ModelPackageName for an "
                              "unversioned one.")
    if not group_name and not name:
        raise ValidationError("Give ModelPackageGroupName (a versioned package) or ModelPackageName (an "
                              "unversioned one).")
    if params.get("InferenceSpecification"):
        _check_inference_specification(services, params["InferenceSpecification"])
    for i, extra in enumerate(params.get("AdditionalInferenceSpecifications") or []):
        _check_inference_specification(services, extra, f"AdditionalInferenceSpecifications[{i}]")
    _check_customer_metadata(params.get("CustomerMetadataProperties") or {})
    approval = params.get("ModelApprovalStatus") or "PendingManualApproval"
    doc: dict[str, Any] = {k: params[k] for k in _STORED if params.get(k) is not None}
    parent = ""
    if group_name:
        group, version = model_package_group.next_version(services, group_name)
        group_name = group.name
        name = f"{group.name}/{version}"
        arn = services.arn(KIND, name)
        parent = group.name.lower()
        doc.update({"ModelPackageName": group.name, "ModelPackageGroupName": group.name,
                    "ModelPackageVersion": version})
        state = PackageState(package_type="Versioned")
    else:
        name = str(name)
        arn = services.arn(KIND, name)
        doc["ModelPackageName"] = name
        state = PackageState(package_type="Unversioned")
    state.tags = list(params["Tags"]) if params.get("Tags") else None
    doc.update({
        "ModelPackageArn": arn,
        "ModelApprovalStatus": approval,
        "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
        "CertifyForMarketplace": bool(params.get("CertifyForMarketplace", False)),
        "CreatedBy": {},
    })
    doc.update(state.to_doc())
    try:
        resource = services.meta.create(KIND, name, arn, "Completed", doc, parent=parent)
    except ResourceInUse:
        raise ResourceInUse(f"Model package already exists: {arn}") from None
    model_package_events.publish(services, describe(resource))
    deploy_on_approval.on_approved(services, describe(resource))  # a tagged group's endpoint; never raises
    return {"ModelPackageArn": arn}


def describe(resource: Resource) -> dict:
    out = {k: v for k, v in resource.doc.items() if not k.startswith("_")}
    out["ModelPackageStatus"] = resource.status
    out["CreationTime"] = resource.created
    out["LastModifiedTime"] = resource.modified
    return out


def _ts(value: Any) -> float | None:
    if value is None:
        return None
    return float(value.timestamp()) if hasattr(value, "timestamp") else float(value)


_SUMMARY_KEYS = ("ModelPackageName", "ModelPackageGroupName", "ModelPackageVersion", "ModelPackageArn",
                 "ModelPackageDescription", "CreationTime", "ModelPackageStatus", "ModelApprovalStatus",
                 "ModelLifeCycle", "ModelPackageRegistrationType")


def list_packages(services: Services, params: dict) -> dict:
    """A ListModelPackages page. With a group: that group's versions; without, only unversioned packages
    unless ModelPackageType says Versioned or Both (AWS's default is Unversioned)."""
    sort_by = params.get("SortBy", "CreationTime")
    if sort_by not in SORT_KEYS:
        raise ValidationError(f"SortBy must be one of {', '.join(SORT_KEYS)}.")
    group = params.get("ModelPackageGroupName")
    package_type = params.get("ModelPackageType") or ("Versioned" if group else "Unversioned")
    doc_equals: dict[str, Any] = {}
    parent = None
    if group:
        parent = model_package_group.get(services, group).name.lower()
        if package_type == "Unversioned":
            raise ValidationError("ModelPackageType Unversioned cannot be combined with ModelPackageGroupName: "
                                  "the packages of a group are versioned.")
    elif package_type != "Both":
        doc_equals["_package_type"] = package_type
    if params.get("ModelApprovalStatus"):
        doc_equals["ModelApprovalStatus"] = params["ModelApprovalStatus"]
    q = ListQuery(name_contains=params.get("NameContains"), parent=parent, doc_equals=doc_equals,
                  created_after=_ts(params.get("CreationTimeAfter")),
                  created_before=_ts(params.get("CreationTimeBefore")), sort_by=SORT_KEYS[sort_by],
                  descending=params.get("SortOrder", "Descending") != "Ascending",
                  max_results=int(params.get("MaxResults") or 10), next_token=params.get("NextToken"))
    page = services.meta.list(KIND, q)
    out: dict[str, Any] = {"ModelPackageSummaryList": [
        {k: v for k, v in describe(r).items() if k in _SUMMARY_KEYS} for r in page.items]}
    if page.next_token:
        out["NextToken"] = page.next_token
    return out


def update(services: Services, params: dict) -> dict:
    """UpdateModelPackage: approval (with its event), approval description, customer metadata, and the
    InferenceSpecification of a package that is not Approved yet (an approved package is what gets deployed)."""
    resource = get(services, params["ModelPackageArn"])
    doc = resource.doc
    changes: dict[str, Any] = {}
    old = doc.get("ModelApprovalStatus", "PendingManualApproval")
    new = params.get("ModelApprovalStatus")
    if new and new != old:
        if new not in TRANSITIONS.get(old, ()):
            raise ValidationError(f"ModelApprovalStatus cannot change from {old} to {new}: a package in {old} "
                                  f"may become {' or '.join(TRANSITIONS.get(old, ())) or 'nothing else'}.")
        changes["ModelApprovalStatus"] = new
    if params.get("ApprovalDescription") is not None:
        changes["ApprovalDescription"] = params["ApprovalDescription"]
    if params.get("CustomerMetadataProperties") is not None or params.get("CustomerMetadataPropertiesToRemove"):
        props = dict(doc.get("CustomerMetadataProperties") or {})
        overlap = set(params.get("CustomerMetadataProperties") or {}) & set(
            params.get("CustomerMetadataPropertiesToRemove") or [])
        if overlap:
            raise ValidationError(f"CustomerMetadataProperties and CustomerMetadataPropertiesToRemove both name "
                                  f"{sorted(overlap)}: a key is either set or removed.")
        props.update(params.get("CustomerMetadataProperties") or {})
        for key in params.get("CustomerMetadataPropertiesToRemove") or []:
            props.pop(key, None)
        _check_customer_metadata(props)
        changes["CustomerMetadataProperties"] = props or None
    if params.get("InferenceSpecification"):
        if (changes.get("ModelApprovalStatus") or old) == "Approved":
            raise ValidationError("InferenceSpecification cannot be changed on an Approved model package: "
                                  "register a new version instead.")
        _check_inference_specification(services, params["InferenceSpecification"])
        changes["InferenceSpecification"] = params["InferenceSpecification"]
    for i, extra in enumerate(params.get("AdditionalInferenceSpecificationsToAdd") or []):
        _check_inference_specification(services, extra, f"AdditionalInferenceSpecificationsToAdd[{i}]")
    if params.get("AdditionalInferenceSpecificationsToAdd"):
        changes["AdditionalInferenceSpecifications"] = list(doc.get("AdditionalInferenceSpecifications") or []) + \
            list(params["AdditionalInferenceSpecificationsToAdd"])
    for key in ("SourceUri", "ModelCard", "ModelLifeCycle", "ModelPackageRegistrationType"):
        if params.get(key) is not None:
            changes[key] = params[key]
    if changes:
        try:
            updated = services.meta.update(KIND, resource.name, changes, expect_version=resource.version)
        except ConflictError:
            raise ConflictError(f"Model package {resource.arn} changed while this update was made; describe it "
                                "and retry.") from None
        if "ModelApprovalStatus" in changes:
            model_package_events.publish(services, describe(updated))
            deploy_on_approval.on_approved(services, describe(updated))  # a tagged group's endpoint; never raises
    return {"ModelPackageArn": resource.arn}


def delete(services: Services, name_or_arn: str) -> None:
    resource = get(services, name_or_arn)
    try:
        services.meta.delete(KIND, resource.name)
    except MissingResource:
        pass


def resolve_model_package_containers(services: Services, containers: list[dict]) -> list[dict]:
    """CreateModel's container definitions with each ``{"ModelPackageName": ...}`` replaced by the package's
    containers (Image, ModelDataUrl, Environment; the definition's own Environment wins, its other members such
    as ContainerHostname or Mode are kept). A package that is not Approved is refused when the server runs with
    ``require_approval``. Definitions without ModelPackageName pass through unchanged."""
    out: list[dict] = []
    for c in containers:
        ref = c.get("ModelPackageName")
        if not ref:
            out.append(c)
            continue
        try:
            package = services.meta.get(KIND, _store_name(ref))
        except MissingResource:
            raise ValidationError(f"ModelPackageName {ref!r}: no such model package; give the ARN of a "
                                  "registered package.") from None
        status = package.doc.get("ModelApprovalStatus", "PendingManualApproval")
        if services.settings.require_approval and status != "Approved":
            raise ValidationError(f"Model package {package.arn} is {status}, not Approved: this server requires "
                                  "approval before deployment (approve it with UpdateModelPackage "
                                  "ModelApprovalStatus=Approved).")
        spec = package.doc.get("InferenceSpecification") or {}
        if not spec.get("Containers"):
            raise ValidationError(f"Model package {package.arn} has no InferenceSpecification containers to "
                                  "deploy.")
        rest = {k: v for k, v in c.items() if k not in ("ModelPackageName", "Environment", "Image",
                                                         "ModelDataUrl")}
        for pc in spec["Containers"]:
            resolved: dict[str, Any] = dict(rest)
            resolved["Image"] = pc["Image"]
            if pc.get("ModelDataUrl"):
                resolved["ModelDataUrl"] = pc["ModelDataUrl"]
            env = {**(pc.get("Environment") or {}), **(c.get("Environment") or {})}
            if env:
                resolved["Environment"] = env
            out.append(resolved)
    return out
