"""aws-chunked decoding and chunk-signature checks, against the worked example in AWS's SigV4 streaming docs."""

from __future__ import annotations

import pytest

from shipyard.api.s3_body import AwsChunkedDecoder, ChunkSigner
from shipyard.errors import S3Error

# "Example: PUT Object" from AWS's "Signature Calculations for the Authorization Header: Transferring Payload in
# Multiple Chunks" (66560 bytes of 'a', in a 65536-byte and a 1024-byte chunk).
AWS_HEADERS = {
    "authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                     "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
                     "x-amz-decoded-content-length;x-amz-storage-class,"
                     "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
    "x-amz-date": "20130524T000000Z",
}
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_BODY = (b"10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n"
            + b"a" * 65536
            + b"\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n"
            + b"a" * 1024
            + b"\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n")


def _decode(body: bytes, step: int, signer=None) -> tuple[bytes, AwsChunkedDecoder]:
    d = AwsChunkedDecoder(signer=signer)
    out = b""
    for i in range(0, len(body), step):
        out += b"".join(d.feed(body[i:i + step]))
    d.finish()
    return out, d


@pytest.mark.parametrize("step", [997, 4096, 1 << 20])
def test_aws_example_decodes_and_verifies_in_any_split(step):
    out, _ = _decode(AWS_BODY, step, ChunkSigner.from_headers(AWS_HEADERS, AWS_SECRET))
    assert out == b"a" * 66560


def test_byte_by_byte_feeding():
    body = b"3;chunk-signature=x\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    out, _ = _decode(body, 1)
    assert out == b"abcde"


def test_wrong_secret_or_tampered_chunk_is_rejected():
    with pytest.raises(S3Error) as e:
        _decode(AWS_BODY, 4096, ChunkSigner.from_headers(AWS_HEADERS, AWS_SECRET + "x"))
    assert e.value.code == "SignatureDoesNotMatch" and e.value.http_status == 403
    tampered = AWS_BODY.replace(b"a" * 10, b"b" * 10, 1)
    with pytest.raises(S3Error) as e:
        _decode(tampered, 4096, ChunkSigner.from_headers(AWS_HEADERS, AWS_SECRET))
    assert e.value.code == "SignatureDoesNotMatch"


def test_trailers_and_truncation():
    body = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n\r\n"
    out, d = _decode(body, 3)
    assert out == b"hello" and d.trailers == {"x-amz-checksum-crc32": "NhCmhg=="}
    for cut in (4, 10, 12):
        with pytest.raises(S3Error) as e:
            _decode(body[:cut], 3)
        assert e.value.code == "IncompleteBody"
    with pytest.raises(S3Error):
        _decode(b"zz\r\nhello\r\n0\r\n\r\n", 50)
    with pytest.raises(S3Error):
        _decode(b"5\r\nhelloXX0\r\n\r\n", 50)
