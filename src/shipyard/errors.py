"""Every error Shipyard raises, in one tree, each carrying the AWS error code a client expects.

Layers raise these; each edge (the HTTP server, the CLI, the SDK) translates them exactly once.
Each class declares its AWS ``code`` and HTTP ``http_status`` once, here; the wire layer's one table
(:data:`shipyard.wire.errors.TABLE`, with a column for each protocol whose names differ) turns them into the
protocol's error shape, so a boto3 user sees the same ``ClientError`` code as against AWS. Match errors with
``isinstance`` on these classes, never by class name or message text. Only ``S3Error``, ``KmsError`` and
``AuthError`` take a code per case (S3's, KMS's and the signature checks' own vocabularies); the others are raised
by type.

    ShipyardError                      InternalFailure            500  (S3: InternalError)
    ├── ValidationError                ValidationException        400
    │   ├── MissingResource            ValidationException        400  ("Could not find ...")
    │   ├── UnsafePath                 ValidationException        400  (a name that leaves its folder)
    │   └── ArchiveRefused             ValidationException        400  (over a cap, or a member that escapes)
    ├── UnknownOperation               UnknownOperationException  400  (query protocol: InvalidAction)
    │   └── UnknownPath                UnknownOperationException  404  (no operation at a REST/RPC path)
    ├── NotImplementedYet              NotImplemented             501  (a feature Shipyard does not serve yet)
    │   └── OperationNotImplemented    UnknownOperationException  400  (an AWS operation Shipyard lacks)
    ├── SerializationError             SerializationException     400  (a body that is not JSON/CBOR/a map)
    ├── ResourceNotFound               ResourceNotFound           400
    ├── ResourceInUse                  ResourceInUse              400
    ├── ResourceLimitExceeded          ResourceLimitExceeded      400
    ├── ConflictError                  ConflictException          409
    ├── AuthError                      (code given per case)      403
    ├── ModelError                     ModelError                 424  (runtime: the model said no)
    ├── ModelNotReady                  ModelNotReadyException     429
    ├── ServiceUnavailable             ServiceUnavailable         503
    ├── RequestTooLarge                RequestEntityTooLarge      413  (S3: EntityTooLarge 400)
    ├── RequestTimeout                 RequestTimeout             400  (a body that stopped arriving)
    ├── KmsError                       (code given per case)      400  (NotFoundException, DisabledException, ...)
    └── S3Error                        (code given per case)      4xx  (NoSuchBucket, NoSuchKey, ...)
"""

from __future__ import annotations


class ShipyardError(Exception):
    """Root of the tree. An error not caught elsewhere becomes InternalFailure (500, no traceback)."""

    code = "InternalFailure"
    http_status = 500

    def __init__(self, message: str = "", *, code: str | None = None, http_status: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if http_status is not None:
            self.http_status = http_status


class ValidationError(ShipyardError):
    """The request is malformed or names something that cannot be done; the message says what to fix."""

    code = "ValidationException"
    http_status = 400


class MissingResource(ValidationError):
    """SageMaker reports most missing resources as ValidationException 'Could not find ...'."""

    def __init__(self, kind: str, name_or_arn: str):
        super().__init__(f'Could not find {kind} "{name_or_arn}".')
        self.kind = kind
        self.name = name_or_arn


class UnsafePath(ValidationError):
    """A key, channel, member or program name that would land outside the folder it must stay in.

    Raised by :func:`shipyard.domain.paths.safe_join`; a job or endpoint that meets one fails with the message
    as its FailureReason, a request that carries one answers ValidationException."""

    def __init__(self, message: str, *, root: str = "", name: str = ""):
        super().__init__(message)
        self.root = root
        self.name = name


class ArchiveRefused(ValidationError):
    """An archive Shipyard was asked to unpack is over a cap (bytes, members) or holds a member it refuses
    (one that escapes the destination, a device file, a link pointing outside). Raised by
    :func:`shipyard.io.archives.safe_extract`; the message (the FailureReason) says which cap and setting."""


class UnknownOperation(ShipyardError):
    """The request names no operation Shipyard knows (an unknown ``X-Amz-Target``, ``Action``, ...)."""

    code = "UnknownOperationException"
    http_status = 400


class UnknownPath(UnknownOperation):
    """A REST-style request (sagemaker-runtime, RPC v2, a service Shipyard does not serve) at a path with no
    operation: AWS answers these 404."""

    http_status = 404


class NotImplementedYet(ShipyardError):
    """Something AWS offers that Shipyard does not implement yet: a feature (S3 ``NotImplemented``, 501)."""

    code = "NotImplemented"
    http_status = 501

    def __init__(self, message: str, *, resource: str = ""):
        super().__init__(message)
        self.resource = resource  # S3 names the bucket or key in the error document


class OperationNotImplemented(NotImplementedYet):
    """An operation in AWS's service model that Shipyard does not serve yet. Clients are told as AWS tells them
    of an operation the endpoint lacks: ``UnknownOperationException`` 400 (a 5xx would invite retries)."""

    code = "UnknownOperationException"
    http_status = 400


class SerializationError(ShipyardError):
    """The request body cannot be decoded at all (not JSON, not CBOR, not a map): nothing to validate."""

    code = "SerializationException"
    http_status = 400


class ResourceNotFound(ShipyardError):
    code = "ResourceNotFound"
    http_status = 400


class ResourceInUse(ShipyardError):
    code = "ResourceInUse"
    http_status = 400


class ResourceLimitExceeded(ShipyardError):
    code = "ResourceLimitExceeded"
    http_status = 400


class ConflictError(ShipyardError):
    code = "ConflictException"
    http_status = 409


class AuthError(ShipyardError):
    """Signature problems. ``code`` differs by protocol (S3: SignatureDoesNotMatch, JSON: InvalidSignatureException)."""

    code = "InvalidSignatureException"
    http_status = 403


class ModelError(ShipyardError):
    """The model server answered with an error; carries the model's own status and message."""

    code = "ModelError"
    http_status = 424

    def __init__(self, message: str, original_status: int = 400, original_message: str = ""):
        super().__init__(message)
        self.original_status = original_status
        self.original_message = original_message or message


class ModelNotReady(ShipyardError):
    code = "ModelNotReadyException"
    http_status = 429


class ServiceUnavailable(ShipyardError):
    code = "ServiceUnavailable"
    http_status = 503


class RequestTooLarge(ShipyardError):
    """The declared (or received) request body is over the limit; refused before it is read."""

    code = "RequestEntityTooLarge"
    http_status = 413


class RequestTimeout(ShipyardError):
    """The request body stopped arriving (S3's code; the connection is closed after the answer)."""

    code = "RequestTimeout"
    http_status = 400


class KmsError(ShipyardError):
    """A KMS-protocol error, raised as ``KmsError(message, code="NotFoundException")`` with KMS's code
    (DisabledException, KMSInvalidStateException, InvalidCiphertextException, IncorrectKeyException, ...). The S3
    edge reports one met while reading or writing an object as S3 does: ``KMS.<code>``."""

    code = "KMSInvalidStateException"
    http_status = 400


class S3Error(ShipyardError):
    """An S3-protocol error; ``code`` is the S3 code (NoSuchKey, NoSuchBucket, BucketNotEmpty, ...)."""

    code = "InvalidRequest"
    http_status = 400

    def __init__(self, code: str, message: str, http_status: int = 400, resource: str = ""):
        super().__init__(message, code=code, http_status=http_status)
        self.resource = resource


def no_such_bucket(bucket: str) -> S3Error:
    return S3Error("NoSuchBucket", "The specified bucket does not exist", 404, bucket)


def no_such_key(key: str) -> S3Error:
    return S3Error("NoSuchKey", "The specified key does not exist.", 404, key)
