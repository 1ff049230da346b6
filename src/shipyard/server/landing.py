"""The page a browser gets at the server's root URL: what this is and how to point clients at it.

Only an *unsigned* ``GET /`` (or ``HEAD /``) whose ``Accept`` asks for HTML gets it: boto3's S3
``ListBuckets`` is also ``GET /``, but signed (an ``Authorization`` header or ``X-Amz-*`` query auth), and
anonymous S3 clients do not ask for ``text/html``; both keep getting S3 answers.
"""

from __future__ import annotations

import html

from .. import __version__

DOCS = "https://docs.aws.amazon.com/sagemaker/latest/APIReference/Welcome.html"
SDK_DOCS = "https://sagemaker.readthedocs.io/"


def wants(method: str, path: str, headers: dict[str, str], query_string: str) -> bool:
    if path != "/" or method not in ("GET", "HEAD"):
        return False
    if "authorization" in headers or "x-amz-" in query_string.lower() or "AWSAccessKeyId=" in query_string:
        return False
    return "text/html" in headers.get("accept", "").lower()


def page(endpoint_url: str, region: str) -> bytes:
    url = html.escape(endpoint_url)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Shipyard</title>
<style>body{{font-family:system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}
code,pre{{background:#f3f3f3;border-radius:4px}}pre{{padding:.75rem;overflow-x:auto}}code{{padding:0 .2rem}}</style>
</head><body>
<h1>Shipyard {html.escape(__version__)}</h1>
<p>A SageMaker-compatible machine-learning platform running on this machine. This URL speaks the SageMaker,
sagemaker-runtime, CloudWatch Logs, STS and S3 APIs: boto3 and the SageMaker Python SDK work against it
unmodified, with only the endpoint URL changed.</p>
<p>Endpoint URL: <code>{url}</code> (region <code>{html.escape(region)}</code>)</p>
<h2>Point your clients at it</h2>
<pre>eval "$(shipyard env)"     # AWS_ENDPOINT_URL, the key pair, region, SageMaker SDK config
shipyard status            # what runs: jobs, endpoints, model servers
shipyard jobs list</pre>
<p>Then use boto3 or the SageMaker Python SDK as usual, e.g. <code>boto3.client("sagemaker").list_training_jobs()</code>.</p>
<h2>Documentation</h2>
<ul>
<li><code>README.md</code> in the Shipyard source: quick start, boto3, the SageMaker SDK, the command line</li>
<li><code>docs/deploy.md</code> (running it for a team) and <code>docs/scaling.md</code> (Ray, PostgreSQL, S3 stores)</li>
<li><a href="{DOCS}">SageMaker API reference</a> and <a href="{SDK_DOCS}">SageMaker Python SDK</a></li>
<li><a href="/shipyard/health">/shipyard/health</a>: the readiness probe</li>
</ul>
</body></html>
""".encode()
