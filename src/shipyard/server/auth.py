"""AWS Signature Version 4 verification, for header auth and presigned (query) auth.

We rebuild the canonical request exactly as botocore's ``SigV4Auth`` / ``S3SigV4Auth`` build it:

- the path is the raw request path; for S3 it is used as sent (keys are not double-encoded), for every
  other service it is dot-segment-normalized and percent-encoded once more (``quote(path, safe="/~")``);
- the query is split into ``key=value`` pairs, each re-encoded canonically, sorted;
- the headers are the ones named in ``SignedHeaders``, values whitespace-trimmed, repeats joined by ``,``;
- the payload hash is the ``x-amz-content-sha256`` header when sent (S3 always sends it, so an S3 body,
  which may be gigabytes, is never read here; ``UNSIGNED-PAYLOAD`` and ``STREAMING-*`` values are
  accepted), otherwise the SHA-256 of the body the caller passes in.

Errors are :class:`~shipyard.errors.AuthError` with the code the protocol's clients expect (JSON services
and S3 name the same failure differently).
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import hmac
import threading
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote

from botocore.utils import normalize_url_path

from ..errors import AuthError

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = _dt.timedelta(minutes=15)
MAX_PRESIGNED_EXPIRES = 604800  # AWS caps X-Amz-Expires at 7 days
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

SIG_MISMATCH_JSON = ("The request signature we calculated does not match the signature you provided. "
                     "Check your AWS Secret Access Key and signing method. Consult the service documentation "
                     "for details.")
SIG_MISMATCH_S3 = ("The request signature we calculated does not match the signature you provided. "
                   "Check your key and signing method.")


@dataclass
class SignedRequest:
    """What the client claims: parsed from the Authorization header or the presigned query."""

    access_key: str
    date: str          # yyyymmdd from the credential scope
    region: str
    service: str
    signed_headers: list[str]
    signature: str
    amz_date: str      # the X-Amz-Date value (may be "" with header auth when only Date is sent)
    presigned: bool
    expires: int = 0


def _err(s3: bool, json_code: str, s3_code: str, message: str, s3_message: str | None = None) -> AuthError:
    if s3:
        return AuthError(s3_message or message, code=s3_code, http_status=403)
    return AuthError(message, code=json_code, http_status=403)


def parse_credential_service(authorization: str | None, query: dict[str, str]) -> str | None:
    """The service named in the credential scope, without verifying anything (used to dispatch)."""
    cred = None
    if authorization and authorization.startswith(ALGORITHM):
        i = authorization.find("Credential=")
        if i >= 0:
            cred = authorization[i + 11:].split(",", 1)[0].strip()
    elif "X-Amz-Credential" in query:
        cred = query["X-Amz-Credential"]
    if not cred:
        return None
    parts = cred.split("/")
    return parts[3] if len(parts) == 5 else None


def parse_query(query_string: str) -> dict[str, str]:
    out: dict[str, str] = {}
    if not query_string:
        return out
    for pair in query_string.split("&"):
        if not pair:
            continue
        k, _, v = pair.partition("=")
        out.setdefault(unquote(k), unquote(v))
    return out


def parse_auth(authorization: str | None, query: dict[str, str], s3: bool) -> SignedRequest:
    if authorization:
        if not authorization.startswith(ALGORITHM + " "):
            raise _err(s3, "IncompleteSignatureException", "InvalidRequest",
                       "Only AWS4-HMAC-SHA256 (Signature Version 4) is supported.",
                       "Please use AWS4-HMAC-SHA256.")
        fields: dict[str, str] = {}
        for part in authorization[len(ALGORITHM) + 1:].split(","):
            k, _, v = part.strip().partition("=")
            fields[k] = v
        cred, signed, sig = fields.get("Credential"), fields.get("SignedHeaders"), fields.get("Signature")
        if not (cred and signed and sig):
            raise _err(s3, "IncompleteSignatureException", "AuthorizationHeaderMalformed",
                       "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'.")
        presigned, amz_date, expires = False, "", 0
    elif "X-Amz-Signature" in query or "X-Amz-Credential" in query:
        if query.get("X-Amz-Algorithm") != ALGORITHM:
            raise _err(s3, "IncompleteSignatureException", "AuthorizationQueryParametersError",
                       "X-Amz-Algorithm must be AWS4-HMAC-SHA256.")
        cred, signed, sig = query.get("X-Amz-Credential"), query.get("X-Amz-SignedHeaders"), \
            query.get("X-Amz-Signature")
        amz_date = query.get("X-Amz-Date", "")
        try:
            expires = int(query.get("X-Amz-Expires", "0"))
        except ValueError:
            expires = -1
        if not (cred and signed and sig and amz_date) or expires <= 0:
            raise _err(s3, "IncompleteSignatureException", "AuthorizationQueryParametersError",
                       "Query-string authentication requires the X-Amz-Algorithm, X-Amz-Credential, "
                       "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders and X-Amz-Expires parameters.")
        if expires > MAX_PRESIGNED_EXPIRES:
            raise _err(s3, "IncompleteSignatureException", "AuthorizationQueryParametersError",
                       f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGNED_EXPIRES}")
        presigned = True
    else:
        raise _err(s3, "MissingAuthenticationTokenException", "AccessDenied",
                   "Missing Authentication Token", "Access Denied")
    parts = cred.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise _err(s3, "IncompleteSignatureException", "AuthorizationHeaderMalformed",
                   f"Credential should be scoped to a valid region and service: {cred!r}.")
    return SignedRequest(parts[0], parts[1], parts[2], parts[3], signed.split(";"), sig, amz_date,
                         presigned, expires)


def _canonical_query(query_string: str, drop_signature: bool) -> str:
    if not query_string:
        return ""
    pairs = []
    for pair in query_string.split("&"):
        if not pair:
            continue
        k, _, v = pair.partition("=")
        k = quote(unquote(k), safe="-_.~")
        if drop_signature and k == "X-Amz-Signature":
            continue
        pairs.append((k, quote(unquote(v), safe="-_.~")))
    pairs.sort()
    return "&".join(f"{k}={v}" for k, v in pairs)


_key_cache: dict[tuple[str, str, str, str], bytes] = {}
_key_lock = threading.Lock()


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    ck = (secret, date, region, service)
    key = _key_cache.get(ck)
    if key is None:
        k = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
        for part in (region, service, "aws4_request"):
            k = hmac.new(k, part.encode(), hashlib.sha256).digest()
        key = k
        with _key_lock:
            if len(_key_cache) > 64:
                _key_cache.clear()
            _key_cache[ck] = key
    return key


@functools.lru_cache(maxsize=256)  # strptime costs ~8 us; a client sends the same stamp for a whole second
def _parse_amz_date(value: str) -> _dt.datetime | None:
    try:
        return _dt.datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=_dt.timezone.utc)
    except ValueError:
        return None


def verify(*, method: str, raw_path: str, query_string: str, headers: dict[str, str], payload_hash: str | None,
           access_key_id: str, secret_access_key: str, s3: bool,
           now: _dt.datetime | None = None, claim: SignedRequest | None = None) -> SignedRequest:
    """Verify a request's SigV4 signature; return the parsed claims or raise :class:`AuthError`.

    ``headers`` maps lower-cased names to values (repeats already joined with ``,``). ``payload_hash`` is
    the body's SHA-256 hex for non-S3 requests whose body has been read; None means "use the
    x-amz-content-sha256 header" (required then, except for presigned URLs).
    """
    query = parse_query(query_string)
    authorization = headers.get("authorization")
    if s3 and ((authorization or "").startswith("AWS ") or (not authorization and "AWSAccessKeyId" in query)):
        return verify_s3_v2(method=method, raw_path=raw_path, query_string=query_string, query=query,
                            headers=headers, access_key_id=access_key_id, secret_access_key=secret_access_key,
                            now=now)
    if claim is None:  # else checked already, by precheck() before the body was read
        claim = check_claim(query=query, headers=headers, access_key_id=access_key_id, s3=s3, now=now)
    return _check_signature(claim, method=method, raw_path=raw_path, query_string=query_string, headers=headers,
                            payload_hash=payload_hash, secret_access_key=secret_access_key, s3=s3)


def precheck(*, query_string: str, headers: dict[str, str], access_key_id: str, s3: bool = False,
             now: _dt.datetime | None = None) -> SignedRequest:
    """Everything about a request's authentication that can be checked without its body.

    The Authorization header (or presigned query) is present and well-formed, names a known access key, and
    its time is current. Servers call this before reading a body, so an unsigned or unknown client never
    gets a body read (or waited for); :func:`verify` checks the signature itself afterwards.
    """
    return check_claim(query=parse_query(query_string), headers=headers, access_key_id=access_key_id, s3=s3,
                       now=now)


def check_claim(*, query: dict[str, str], headers: dict[str, str], access_key_id: str, s3: bool,
                now: _dt.datetime | None = None) -> SignedRequest:
    """Parse the claim and check its key and time (no signature): raises :class:`AuthError`."""
    return check_parsed(parse_auth(headers.get("authorization"), query, s3), headers=headers,
                        access_key_id=access_key_id, s3=s3, now=now)


def check_parsed(claim: SignedRequest, *, headers: dict[str, str], access_key_id: str, s3: bool,
                 now: _dt.datetime | None = None) -> SignedRequest:
    """Check an already parsed claim's key and time (no signature): raises :class:`AuthError`. The server
    parses a request's Authorization header once (:func:`parse_auth`), learns the key from it, checks it here
    before the body is read and passes it on to :func:`verify`."""
    if claim.access_key != access_key_id:
        raise _err(s3, "UnrecognizedClientException", "InvalidAccessKeyId",
                   "The security token included in the request is invalid.",
                   "The AWS Access Key Id you provided does not exist in our records.")
    now = now or _dt.datetime.now(_dt.timezone.utc)

    # --- the request time ---
    if claim.presigned:
        when = _parse_amz_date(claim.amz_date)
        if when is None:
            raise _err(s3, "IncompleteSignatureException", "AuthorizationQueryParametersError",
                       f"X-Amz-Date must be in the ISO8601 basic format, got {claim.amz_date!r}.")
        if now > when + _dt.timedelta(seconds=claim.expires):
            raise _err(s3, "InvalidSignatureException", "AccessDenied", "Signature expired",
                       "Request has expired")
        if when - now > MAX_SKEW:
            raise _err(s3, "InvalidSignatureException", "RequestTimeTooSkewed",
                       "Signature not yet current",
                       "The difference between the request time and the current time is too large.")
    else:
        amz = headers.get("x-amz-date")
        if amz:
            when = _parse_amz_date(amz)
            claim.amz_date = amz
        elif headers.get("date"):
            try:
                when = parsedate_to_datetime(headers["date"])
                when = when if when.tzinfo else when.replace(tzinfo=_dt.timezone.utc)
                claim.amz_date = when.astimezone(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            except (TypeError, ValueError):
                when = None
        else:
            when = None
        if when is None:
            raise _err(s3, "IncompleteSignatureException", "AccessDenied",
                       "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
                       "AWS authentication requires a valid Date or x-amz-date header")
        if abs(now - when) > MAX_SKEW:
            stamp = now.strftime("%Y%m%dT%H%M%SZ")
            raise _err(s3, "InvalidSignatureException", "RequestTimeTooSkewed",
                       f"Signature expired: {claim.amz_date} is now earlier than "
                       f"{(now - MAX_SKEW).strftime('%Y%m%dT%H%M%SZ')} ({stamp} - 15 min.)",
                       "The difference between the request time and the current time is too large.")
    if claim.amz_date[:8] != claim.date:
        raise _err(s3, "InvalidSignatureException", "SignatureDoesNotMatch",
                   "Credential should be scoped to a valid date.", SIG_MISMATCH_S3)
    return claim


def _check_signature(claim: SignedRequest, *, method: str, raw_path: str, query_string: str,
                     headers: dict[str, str], payload_hash: str | None, secret_access_key: str,
                     s3: bool) -> SignedRequest:
    # --- the canonical request ---
    sent_hash = headers.get("x-amz-content-sha256")
    if sent_hash is not None:
        if payload_hash is not None and sent_hash != payload_hash and sent_hash != "UNSIGNED-PAYLOAD" \
                and not sent_hash.startswith("STREAMING-"):
            raise _err(s3, "InvalidSignatureException", "XAmzContentSHA256Mismatch",
                       "The provided 'x-amz-content-sha256' header does not match what was computed.")
        body_hash = sent_hash
    elif claim.presigned and s3:
        body_hash = "UNSIGNED-PAYLOAD"
    elif payload_hash is not None:
        body_hash = payload_hash
    else:
        raise _err(s3, "InvalidSignatureException", "InvalidRequest",
                   "Missing required header for this request: x-amz-content-sha256")

    path = raw_path or "/"
    if not s3:
        path = quote(normalize_url_path(path), safe="/~")
    header_lines = []
    for name in claim.signed_headers:
        value = headers.get(name)
        if value is None:
            raise _err(s3, "InvalidSignatureException", "SignatureDoesNotMatch",
                       f"Signed header {name!r} is missing from the request.", SIG_MISMATCH_S3)
        header_lines.append(f"{name}:{' '.join(value.split())}")
    canonical = "\n".join([
        method.upper(),
        path,
        _canonical_query(query_string, claim.presigned),
        "\n".join(header_lines) + "\n",
        ";".join(claim.signed_headers),
        body_hash,
    ])
    scope = f"{claim.date}/{claim.region}/{claim.service}/aws4_request"
    string_to_sign = "\n".join([ALGORITHM, claim.amz_date, scope,
                                hashlib.sha256(canonical.encode("utf-8")).hexdigest()])
    key = _signing_key(secret_access_key, claim.date, claim.region, claim.service)
    expected = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, claim.signature):
        raise _err(s3, "InvalidSignatureException", "SignatureDoesNotMatch", SIG_MISMATCH_JSON, SIG_MISMATCH_S3)
    return claim


# S3 sub-resources that are part of a Signature Version 2 canonical resource (botocore's HmacV1Auth list).
_V2_SUBRESOURCES = frozenset("""accelerate acl cors defaultObjectAcl location logging partNumber policy
requestPayment torrent versioning versionId versions website uploads uploadId response-content-type
response-content-language response-expires response-cache-control response-content-disposition
response-content-encoding delete lifecycle tagging restore storageClass notification replication analytics
metrics inventory select select-type object-lock""".split())


def verify_s3_v2(*, method: str, raw_path: str, query_string: str, query: dict[str, str],
                 headers: dict[str, str], access_key_id: str, secret_access_key: str,
                 now: _dt.datetime | None = None) -> SignedRequest:
    """S3's legacy Signature Version 2, which boto3 still uses for ``generate_presigned_url`` by default."""
    import base64

    presigned = not headers.get("authorization")
    if presigned:
        key_id, signature, stamp = query.get("AWSAccessKeyId", ""), query.get("Signature", ""), \
            query.get("Expires", "")
        try:
            expires = int(stamp)
        except ValueError:
            raise AuthError("Expires must be a number of seconds since the epoch.", code="AccessDenied") from None
        now_ts = (now or _dt.datetime.now(_dt.timezone.utc)).timestamp()
        if now_ts > expires:
            raise AuthError("Request has expired", code="AccessDenied")
        fields = {k.lower(): v for k, v in query.items()
                  if k.lower() in ("content-md5", "content-type") or k.lower().startswith("x-amz-")}
        fields.update({k: v for k, v in headers.items() if k in ("content-md5", "content-type")
                       or k.startswith("x-amz-")})
    else:
        key_id, _, signature = headers["authorization"][4:].partition(":")
        stamp = headers.get("date", "") if "x-amz-date" not in headers else ""
        fields = headers
        when_text = headers.get("x-amz-date") or headers.get("date")
        try:
            when = parsedate_to_datetime(when_text) if when_text else None
        except (TypeError, ValueError):
            when = None
        if when is None:
            raise AuthError("AWS authentication requires a valid Date or x-amz-date header", code="AccessDenied")
        if abs((now or _dt.datetime.now(_dt.timezone.utc)) - when) > MAX_SKEW:
            raise AuthError("The difference between the request time and the current time is too large.",
                            code="RequestTimeTooSkewed")
    if key_id != access_key_id:
        raise AuthError("The AWS Access Key Id you provided does not exist in our records.",
                        code="InvalidAccessKeyId")
    amz = sorted((k, ",".join(p.strip() for p in v.split(","))) for k, v in fields.items()
                 if k.startswith("x-amz-"))
    resource = raw_path or "/"
    sub = []
    for pair in query_string.split("&") if query_string else []:
        k, eq, v = pair.partition("=")
        if k in _V2_SUBRESOURCES:
            sub.append((k, unquote(v) if eq else None))
    if sub:
        sub.sort(key=lambda kv: kv[0])
        resource += "?" + "&".join(k if v is None else f"{k}={v}" for k, v in sub)
    lines = [method.upper(), fields.get("content-md5", "").strip(), fields.get("content-type", "").strip(), stamp]
    lines += [f"{k}:{v}" for k, v in amz]
    lines.append(resource)
    expected = base64.b64encode(hmac.new(secret_access_key.encode(), "\n".join(lines).encode("utf-8"),
                                         hashlib.sha1).digest()).decode()
    if not hmac.compare_digest(expected, signature):
        raise AuthError(SIG_MISMATCH_S3, code="SignatureDoesNotMatch")
    return SignedRequest(key_id, "", "", "s3", [], signature, "", presigned)


# --- authorization of scoped (per-job) keys ------------------------------------------------------------------
# The server's own key may do anything. A job's key (see :mod:`shipyard.domain.job_keys`) is checked on every
# request, after its signature, against the job's scope; stepping outside is ``AccessDenied`` (S3, 403) or
# ``AccessDeniedException`` (JSON, CBOR and query services), both with HTTP 403.

def claimed_access_key(headers: dict[str, str], query_string: str) -> str:
    """The access key id a request claims (header, presigned v4 or v2 query), unverified; "" if none."""
    authorization = headers.get("authorization") or ""
    if authorization.startswith(ALGORITHM):
        i = authorization.find("Credential=")
        if i >= 0:
            return authorization[i + 11:].split(",", 1)[0].strip().split("/", 1)[0]
        return ""
    if authorization.startswith("AWS "):
        return authorization[4:].partition(":")[0]
    if "X-Amz-Credential" in query_string or "AWSAccessKeyId" in query_string:
        query = parse_query(query_string)
        if "X-Amz-Credential" in query:
            return query["X-Amz-Credential"].split("/", 1)[0]
        return query.get("AWSAccessKeyId", "")
    return ""


def _denied(s3: bool, action: str, resource: str, who: str) -> AuthError:
    message = f"User: {who} is not authorized to perform: {action} on resource: {resource}"
    if s3:
        return AuthError("Access Denied", code="AccessDenied", http_status=403)
    return AuthError(message, code="AccessDeniedException", http_status=403)


def _under(entries: list[str], target: str) -> bool:
    return any(target.startswith(e) for e in entries if e)


def authorize_s3(scope, *, method: str, path: str, query: dict[str, str], headers: dict[str, str]) -> None:
    """Raise ``AccessDenied`` unless a job key with ``scope`` may make this S3 request."""
    who = f"job/{scope.kind}/{scope.name}"
    bucket, _, key = path.lstrip("/").partition("/")
    method = method.upper()
    readable = list(scope.read) + list(scope.write)
    if not bucket:
        raise _denied(True, "s3:ListAllMyBuckets", "arn:aws:s3:::*", who)
    if not key:
        arn = f"arn:aws:s3:::{bucket}"
        if method == "HEAD" or (method == "GET" and ("location" in query or "versioning" in query)):
            if bucket in scope.buckets():
                return
            raise _denied(True, "s3:ListBucket", arn, who)
        if method == "GET" and "uploads" in query:
            if _under(scope.write, f"{bucket}/{query.get('prefix', '')}"):
                return
            raise _denied(True, "s3:ListBucketMultipartUploads", arn, who)
        if method == "GET":
            if _under(readable, f"{bucket}/{query.get('prefix', '')}"):
                return
            raise _denied(True, "s3:ListBucket", arn, who)
        raise _denied(True, f"s3:{method}Bucket", arn, who)
    target = f"{bucket}/{key}"
    arn = f"arn:aws:s3:::{target}"
    if method in ("GET", "HEAD"):
        if _under(readable, target):
            return
        raise _denied(True, "s3:GetObject", arn, who)
    if method in ("PUT", "POST", "DELETE"):
        if not _under(scope.write, target):
            raise _denied(True, "s3:PutObject" if method != "DELETE" else "s3:DeleteObject", arn, who)
        source = headers.get("x-amz-copy-source")
        if source and method == "PUT":
            src = unquote(source.split("?versionId=", 1)[0]).lstrip("/")
            if not _under(readable, src):
                raise _denied(True, "s3:GetObject", f"arn:aws:s3:::{src}", who)
        return
    raise _denied(True, f"s3:{method}", arn, who)


# JSON/CBOR/query operations a job key may call, whatever its scope (harmless, about the caller itself)
_ALWAYS = {("sts", "GetCallerIdentity")}
_LOG_OPS = {"CreateLogStream", "PutLogEvents", "GetLogEvents", "DescribeLogStreams"}


# What the SDK's load_run() calls from inside a job (its Run's load-or-create, save, association check, metrics):
# allowed for a job whose ExperimentConfig names the entities, and only when every name the call carries is one of
# them. Search (the SDK asks whether its run's trial component is in its group) only over trial components and only
# narrowed by an Equals filter on one of the job's own names, so no other job's record can come back.
_EXPERIMENT_OPS = {
    ("sagemaker", op) for op in (
        "CreateExperiment", "DescribeExperiment", "CreateTrial", "DescribeTrial", "CreateTrialComponent",
        "DescribeTrialComponent", "UpdateTrialComponent", "AssociateTrialComponent", "Search")
} | {("sagemaker-metrics", "BatchPutMetrics")}
_EXPERIMENT_NAME_FIELDS = ("ExperimentName", "TrialName", "TrialComponentName")


def _experiment_call(scope, service: str, operation: str, params: dict) -> bool:
    allowed = getattr(scope, "experiment", None) or []
    if not allowed or (service, operation) not in _EXPERIMENT_OPS:
        return False
    if operation == "Search":
        return _own_trial_component_search(params, allowed)
    names = [str(params[f]).lower() for f in _EXPERIMENT_NAME_FIELDS if params.get(f)]
    return bool(names) and all(n in allowed for n in names)


def _own_trial_component_search(params: dict, allowed: list[str]) -> bool:
    expression = params.get("SearchExpression") or {}
    if params.get("Resource") != "ExperimentTrialComponent" or expression.get("Operator", "And") != "And":
        return False
    return any(f.get("Name") == "TrialComponentName" and f.get("Operator", "Equals") == "Equals"
               and str(f.get("Value", "")).lower() in allowed for f in expression.get("Filters") or [])


def authorize_call(scope, service: str, operation: str, params: dict | None) -> None:
    """Raise ``AccessDeniedException`` unless a job key with ``scope`` may call ``service:operation``."""
    params = params or {}
    who = f"job/{scope.kind}/{scope.name}"
    if (service, operation) in _ALWAYS:
        return
    if service == "logs" and operation in _LOG_OPS and scope.log_group:
        group = params.get("logGroupName")
        stream = params.get("logStreamName")
        if operation == "DescribeLogStreams":
            stream = params.get("logStreamNamePrefix") or ""
        if group == scope.log_group and isinstance(stream, str) and stream.startswith(scope.log_stream_prefix):
            return
        raise _denied(False, f"logs:{operation}", f"log-group:{group}:log-stream:{stream}", who)
    if service == "cloudwatch" and operation == "PutMetricData" and scope.metrics:
        return
    if _experiment_call(scope, service, operation, params):
        return
    for own_service, own_op, field_name in scope.own:
        if (service, operation) == (own_service, own_op) and params.get(field_name) == scope.name:
            return
    raise _denied(False, f"{service}:{operation}", "*", who)


# --- authorization of users' keys ------------------------------------------------------------------------------
# A user's key (see :mod:`shipyard.domain.users`) with role ``admin`` may do what the server's key may. A
# ``viewer`` only reads: operations named as reads (below), S3 GET and HEAD, CloudWatch Logs reads, and
# GetCallerIdentity. Anything else is ``AccessDeniedException`` (S3: ``AccessDenied``), 403, naming the user, the
# action and the role, so that the person knows to ask an admin rather than retry.

READ_PREFIXES = ("Describe", "List", "Get", "Search", "Query", "BatchGet", "BatchDescribe")
_LOG_READS = {"FilterLogEvents", "StartQuery", "StopQuery", "StartLiveTail", "TestMetricFilter"}


def is_read_operation(service: str, operation: str) -> bool:
    """Whether ``service:operation`` only reads (what a viewer may call)."""
    if (service, operation) in _ALWAYS:
        return True
    if service == "logs" and operation in _LOG_READS:
        return True
    return operation.startswith(READ_PREFIXES)


def _user_denied(user, action: str, account: str, s3: bool) -> AuthError:
    who = f"arn:aws:iam::{account}:user/{user.name}" if account else user.name
    message = (f"User: {who} is not authorized to perform: {action}: the user's role is {user.role}, which is "
               "read-only (Describe, List, Get, Search and other reads only); ask an admin to do it or to give "
               "you an admin user.")
    return AuthError(message, code="AccessDenied" if s3 else "AccessDeniedException", http_status=403)


def authorize_user(user, service: str, operation: str, account: str = "") -> None:
    """Raise ``AccessDeniedException`` unless a user's key (``user.role``) may call ``service:operation``."""
    if user.role != "viewer" or is_read_operation(service, operation):
        return
    raise _user_denied(user, f"{service}:{operation}", account, s3=False)


def authorize_user_s3(user, *, method: str, path: str, account: str = "") -> None:
    """Raise ``AccessDenied`` unless a user's key may make an S3 request with ``method`` (viewers: GET, HEAD)."""
    method = method.upper()
    if user.role != "viewer" or method in ("GET", "HEAD"):
        return
    bucket, _, key = path.lstrip("/").partition("/")
    action = ("s3:DeleteObject" if method == "DELETE" else "s3:PutObject") if key else f"s3:{method}Bucket"
    raise _user_denied(user, f"{action} on resource: arn:aws:s3:::{bucket}{'/' + key if key else ''}", account,
                       s3=True)
