"""S3 server-side encryption at the edge: the ``x-amz-server-side-encryption*`` headers, the bucket's
``?encryption`` document, and KMS errors reported the way S3 reports them (``KMS.DisabledException``, ...).

The encrypting itself is :mod:`shipyard.objectstore.encrypted`'s; this module only turns requests into an
:class:`~shipyard.objectstore.encrypted.Encryption` and results back into headers.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from ..errors import KmsError, NotImplementedYet, S3Error
from ..objectstore.encrypted import AES256, KMS, Encryption
from ..wire import s3xml

SSE = "x-amz-server-side-encryption"
SSE_KEY = "x-amz-server-side-encryption-aws-kms-key-id"
SSE_C = "x-amz-server-side-encryption-customer-algorithm"
NO_CONFIG = ("ServerSideEncryptionConfigurationNotFoundError",
             "The server side encryption configuration was not found")


def as_s3_error(exc: KmsError) -> S3Error:
    """A KMS error met while serving an S3 request, as S3 answers it: the code prefixed ``KMS.``."""
    return S3Error(f"KMS.{exc.code}", exc.message, exc.http_status if exc.http_status < 500 else 500)


def _encryption(algorithm: str, key_id: str, where: str) -> Encryption:
    if algorithm == KMS:  # no key id: the account's AWS managed key, alias/aws/s3 (made on first use)
        return Encryption(KMS, key_id)
    if algorithm == AES256:
        if key_id:
            raise S3Error("InvalidArgument", f"{where}: a KMS key id was given with AES256; use aws:kms to encrypt "
                          "under a KMS key.", 400)
        return Encryption(AES256)
    if algorithm == "aws:kms:dsse":
        raise NotImplementedYet("Dual-layer server-side encryption (aws:kms:dsse) is not supported by Shipyard; "
                                "use aws:kms.")
    raise S3Error("InvalidArgument", f"{where}: the encryption method {algorithm!r} is not valid: use AES256 or "
                  "aws:kms.", 400)


def requested(headers) -> Encryption | None:
    """The encryption a PUT / CreateMultipartUpload / CopyObject asks for (None: the bucket's default, if any)."""
    if SSE_C in headers:
        raise NotImplementedYet("Server-side encryption with customer-provided keys (SSE-C) is not supported by "
                                "Shipyard; use aws:kms (SSEKMSKeyId) or AES256.")
    algorithm = headers.get(SSE)
    key_id = headers.get(SSE_KEY, "")
    if algorithm is None:
        if key_id:
            raise S3Error("InvalidArgument", "Server Side Encryption with AWS KMS managed key requires HTTP header "
                          f"{SSE} : aws:kms", 400)
        return None
    return _encryption(algorithm.strip(), key_id.strip(), SSE)


def writer(store, headers):
    """The store to write through: a view that encrypts as the request asks, or the store itself."""
    encryption = requested(headers)
    if encryption is None:
        return store
    with_encryption = getattr(store, "with_encryption", None)
    if with_encryption is None:
        raise NotImplementedYet("This server's object store does not do server-side encryption.")
    return with_encryption(encryption)


def response_headers(sse: Encryption | None) -> dict[str, str]:
    if sse is None:
        return {}
    out = {SSE: sse.algorithm}
    if sse.algorithm == KMS and sse.key_id:
        out[SSE_KEY] = sse.key_id
    return out


def of(info) -> dict[str, str]:
    """The SSE headers for an object's info (what PUT, HEAD, GET and the copy/complete answers carry)."""
    return response_headers(getattr(info, "sse", None))


# --- the bucket's ?encryption document -----------------------------------------------------------------------
def parse_configuration(body: bytes) -> Encryption:
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise S3Error("MalformedXML", "The XML you provided was not well-formed or did not validate against our "
                      "published schema.", 400) from None
    for e in root.iter():
        if isinstance(e.tag, str) and "}" in e.tag:
            e.tag = e.tag.split("}", 1)[1]
    rule = root.find("Rule/ApplyServerSideEncryptionByDefault")
    if root.tag != "ServerSideEncryptionConfiguration" or rule is None:
        raise S3Error("MalformedXML", "A ServerSideEncryptionConfiguration needs a Rule with "
                      "ApplyServerSideEncryptionByDefault.", 400)
    algorithm = (rule.findtext("SSEAlgorithm") or "").strip()
    key_id = (rule.findtext("KMSMasterKeyID") or "").strip()
    return _encryption(algorithm, key_id, "ApplyServerSideEncryptionByDefault")


def configuration(sse: Encryption) -> bytes:
    inner = s3xml.el("SSEAlgorithm", sse.algorithm)
    if sse.key_id:
        inner += s3xml.el("KMSMasterKeyID", sse.key_id)
    return s3xml.doc("ServerSideEncryptionConfiguration",
                     f"<Rule><ApplyServerSideEncryptionByDefault>{inner}</ApplyServerSideEncryptionByDefault>"
                     "<BucketKeyEnabled>false</BucketKeyEnabled></Rule>")
