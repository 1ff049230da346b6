"""Private workforces, work teams and human task UIs: who labels, and with what page.

On AWS a private workforce is a Cognito user pool (or an OIDC identity provider) and a work team is one or more
of its groups. In Shipyard the identity provider is the console's own user list (``shipyard users add``,
:mod:`shipyard.domain.users`): a worker signs in to the console with their own key pair and takes tasks in the
worker portal (``/studio/worker``). The documented mapping of a team's members:

- ``CognitoMemberDefinition.UserGroup`` and each entry of ``OidcMemberDefinition.Groups`` name console users:
  one user name, or several separated by commas (``"alice,bob"``). ``UserPool`` and ``ClientId`` are kept as
  given and otherwise unused.
- Members are resolved when a worker asks for work, so a user added later with a listed name joins the team; a
  team whose groups name no console user at all is refused at CreateWorkteam (AWS refuses a team with no
  members too), naming MemberDefinitions.

One private workforce per account and region, as on AWS: ``default`` is created with the first team when none
exists. A human task UI is a stored task template (Liquid/Crowd HTML) that CreateLabelingJob may name by ARN;
its element is checked when it is created (see :mod:`shipyard.labeling.tasks`).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from ..context import Services
from ..domain import users as _users
from ..errors import ResourceInUse, ResourceLimitExceeded, ResourceNotFound, ValidationError
from ..labeling.tasks import find_element
from ..metastore.base import ListQuery, Resource
from .job_listing import list_page

WORKFORCE = "workforce"
WORKTEAM = "workteam"
HUMAN_TASK_UI = "human-task-ui"
DEFAULT_WORKFORCE = "default"
PORTAL_PATH = "/studio/worker"


def _arn(services: Services, kind: str, name: str) -> str:
    resource = "workteam/private-crowd" if kind == WORKTEAM else kind
    return f"arn:aws:sagemaker:{services.region}:{services.account}:{resource}/{name.lower()}"


def _public(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


# -- workforces -----------------------------------------------------------------------------------------------
def create_workforce(services: Services, params: dict) -> dict:
    name = params["WorkforceName"]
    existing = services.meta.list(WORKFORCE, ListQuery(max_results=1)).items
    if existing:
        raise ResourceLimitExceeded(f"WorkforceName: this account already has the private workforce "
                                    f"{existing[0].name!r} in {services.region}; one is allowed per region "
                                    "(delete it first).")
    return {"WorkforceArn": _new_workforce(services, name, params).arn}


def _new_workforce(services: Services, name: str, params: dict) -> Resource:
    now = time.time()
    doc: dict[str, Any] = {"WorkforceName": name, "WorkforceArn": _arn(services, WORKFORCE, name),
                           "LastUpdatedDate": now, "CreateDate": now, "Status": "Active",
                           "SubDomain": services.settings.endpoint_url + PORTAL_PATH,
                           "SourceIpConfig": params.get("SourceIpConfig") or {"Cidrs": []}}
    if params.get("CognitoConfig"):
        doc["CognitoConfig"] = params["CognitoConfig"]
    if params.get("OidcConfig"):
        doc["OidcConfig"] = {k: v for k, v in params["OidcConfig"].items() if k != "ClientSecret"}
    doc["_tags"] = params.get("Tags") or []  # ListTags/AddTags (api/tags.py) find the workforce by its ARN
    try:
        return services.meta.create(WORKFORCE, name, doc["WorkforceArn"], "Active", doc)
    except ResourceInUse:
        raise ResourceInUse(f"WorkforceName: a workforce named {name} already exists.") from None


def get_workforce(services: Services, name: str) -> Resource:
    found = services.meta.find(WORKFORCE, name)
    if found is None:
        raise ResourceNotFound(f"WorkforceName: workforce {name} does not exist.")
    return found


def describe_workforce(services: Services, name: str) -> dict:
    return {"Workforce": _public(get_workforce(services, name).doc)}


def list_workforces(services: Services, params: dict) -> dict:
    return list_page(services, WORKFORCE, {"SortBy": "CreateDate", **params}, "Workforces", lambda r: _public(r.doc),
                     sort_fields={"Name": "name", "CreateDate": "created"})


def delete_workforce(services: Services, name: str) -> None:
    wf = get_workforce(services, name)
    teams = [r.name for r in services.meta.list_in_status(WORKTEAM, ("Active",))
             if r.doc.get("WorkforceArn") == wf.arn]
    if teams:
        raise ResourceInUse(f"WorkforceName: workforce {name} still has work teams ({', '.join(teams)}); delete "
                            "them first.")
    services.meta.delete(WORKFORCE, name)


# -- work teams -----------------------------------------------------------------------------------------------
def group_names(member_definitions: list[dict]) -> list[str]:
    """Every group a team's member definitions name (Cognito's UserGroup, OIDC's Groups), in order."""
    out: list[str] = []
    for d in member_definitions:
        if d.get("CognitoMemberDefinition"):
            out.append(d["CognitoMemberDefinition"]["UserGroup"])
        for g in (d.get("OidcMemberDefinition") or {}).get("Groups") or []:
            out.append(g)
    return out


def _console_users(services: Services) -> set[str]:
    return {u.name for u in _users.for_home(services.settings.home).list() if not u.owner}


def resolve_members(services: Services, member_definitions: list[dict]) -> list[str]:
    """The console users a team's groups name (see the module docstring), sorted."""
    known = _console_users(services)
    names = {n.strip() for g in group_names(member_definitions) for n in g.split(",")}
    return sorted(n for n in names if n in known)


def create_workteam(services: Services, params: dict) -> dict:
    name = params["WorkteamName"]
    defs = params["MemberDefinitions"]
    kinds = {("cognito" if d.get("CognitoMemberDefinition") else "oidc" if d.get("OidcMemberDefinition") else "")
             for d in defs}
    if "" in kinds:
        raise ValidationError("MemberDefinitions: each member definition needs a CognitoMemberDefinition or an "
                              "OidcMemberDefinition.")
    if len(kinds) > 1:
        raise ValidationError("MemberDefinitions: use Cognito or OIDC member definitions, not both.")
    groups = group_names(defs)
    if not resolve_members(services, defs):
        raise ValidationError(f"MemberDefinitions: the team has no members: its groups ({', '.join(groups)}) name "
                              "no console user. Add workers with `shipyard users add NAME` and list their names "
                              "in UserGroup (or OIDC Groups), comma-separated.")
    wf_name = params.get("WorkforceName")
    if wf_name:
        workforce = get_workforce(services, wf_name)
    else:
        existing = services.meta.list(WORKFORCE, ListQuery(max_results=1)).items
        workforce = existing[0] if existing else _new_workforce(services, DEFAULT_WORKFORCE, {})
    arn = _arn(services, WORKTEAM, name)
    now = time.time()
    doc: dict[str, Any] = {"WorkteamName": name, "WorkteamArn": arn, "MemberDefinitions": defs,
                           "WorkforceArn": workforce.arn, "Description": params["Description"],
                           "SubDomain": services.settings.endpoint_url + PORTAL_PATH, "CreateDate": now,
                           "LastUpdatedDate": now, "ProductListingIds": []}
    for key in ("NotificationConfiguration", "WorkerAccessConfiguration"):
        if key in params:
            doc[key] = params[key]
    doc["_tags"] = params.get("Tags") or []
    try:
        services.meta.create(WORKTEAM, name, arn, "Active", doc)
    except ResourceInUse:
        raise ResourceInUse(f"WorkteamName: a work team named {name} already exists.") from None
    return {"WorkteamArn": arn}


def name_from_arn(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]


def get_workteam(services: Services, name_or_arn: str, field_name: str = "WorkteamName") -> Resource:
    found = services.meta.find(WORKTEAM, name_from_arn(name_or_arn))
    if found is None or (name_or_arn.startswith("arn:") and found.arn != name_or_arn.lower()
                         and found.arn != name_or_arn):
        raise ResourceNotFound(f"{field_name}: work team {name_or_arn} does not exist.")
    return found


def describe_workteam(services: Services, name: str) -> dict:
    return {"Workteam": _public(get_workteam(services, name).doc)}


def list_workteams(services: Services, params: dict) -> dict:
    return list_page(services, WORKTEAM, {"SortBy": "CreateDate", **params}, "Workteams", lambda r: _public(r.doc),
                     sort_fields={"Name": "name", "CreateDate": "created"})


def update_workteam(services: Services, params: dict) -> dict:
    team = get_workteam(services, params["WorkteamName"])
    changes: dict[str, Any] = {"LastUpdatedDate": time.time()}
    if "MemberDefinitions" in params:
        if not resolve_members(services, params["MemberDefinitions"]):
            raise ValidationError("MemberDefinitions: the team would have no members: its groups name no "
                                  "console user.")
        changes["MemberDefinitions"] = params["MemberDefinitions"]
    for key in ("Description", "NotificationConfiguration", "WorkerAccessConfiguration"):
        if key in params:
            changes[key] = params[key]
    updated = services.meta.update(WORKTEAM, team.name, changes)
    return {"Workteam": _public(updated.doc)}


def delete_workteam(services: Services, name: str) -> dict:
    team = get_workteam(services, name)
    services.meta.delete(WORKTEAM, team.name)
    return {"Success": True}


def members(services: Services, team: Resource) -> list[str]:
    return resolve_members(services, team.doc.get("MemberDefinitions") or [])


def teams_of(services: Services, user_name: str) -> list[Resource]:
    """The work teams whose groups name this console user."""
    if not user_name:
        return []
    known = _console_users(services)
    if user_name not in known:
        return []
    out = []
    for team in services.meta.list_in_status(WORKTEAM, ("Active",)):
        names = {n.strip() for g in group_names(team.doc.get("MemberDefinitions") or []) for n in g.split(",")}
        if user_name in names:
            out.append(team)
    return out


# -- human task UIs -------------------------------------------------------------------------------------------
def create_human_task_ui(services: Services, params: dict) -> dict:
    name = params["HumanTaskUiName"]
    content = params["UiTemplate"]["Content"]
    element, _ = find_element(content, "UiTemplate.Content")
    arn = _arn(services, HUMAN_TASK_UI, name)
    doc = {"HumanTaskUiArn": arn, "HumanTaskUiName": name, "HumanTaskUiStatus": "Active",
           "CreationTime": time.time(), "_Content": content, "_Element": element, "_tags": params.get("Tags") or []}
    try:
        services.meta.create(HUMAN_TASK_UI, name, arn, "Active", doc)
    except ResourceInUse:
        raise ResourceInUse(f"HumanTaskUiName: a human task UI named {name} already exists.") from None
    return {"HumanTaskUiArn": arn}


def get_human_task_ui(services: Services, name_or_arn: str, field_name: str = "HumanTaskUiName") -> Resource:
    found = services.meta.find(HUMAN_TASK_UI, name_from_arn(name_or_arn))
    if found is None:
        raise ResourceNotFound(f"{field_name}: human task UI {name_or_arn} does not exist.")
    return found


def describe_human_task_ui(services: Services, name: str) -> dict:
    r = get_human_task_ui(services, name)
    content = r.doc["_Content"]
    url = f"{services.settings.endpoint_url}/studio/worker/templates/{r.name}"
    return {**_public(r.doc), "UiTemplate": {"Url": url,
                                             "ContentSha256": hashlib.sha256(content.encode()).hexdigest()}}


def list_human_task_uis(services: Services, params: dict) -> dict:
    return list_page(services, HUMAN_TASK_UI, params, "HumanTaskUiSummaries",
                     lambda r: {"HumanTaskUiName": r.name, "HumanTaskUiArn": r.arn,
                                "CreationTime": r.doc["CreationTime"]})


def delete_human_task_ui(services: Services, name: str) -> None:
    get_human_task_ui(services, name)
    services.meta.delete(HUMAN_TASK_UI, name)


def template_content(services: Services, arn: str) -> str:
    return get_human_task_ui(services, arn, "HumanTaskConfig.UiConfig.HumanTaskUiArn").doc["_Content"]
