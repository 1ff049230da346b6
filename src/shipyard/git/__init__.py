"""A small Git layer over the ``git`` CLI: Shipyard-hosted bare repositories, clones, credentials, and smart
HTTP for the hosted ones.

Why the CLI and not a library: ``git`` is what users push with, so its behaviour (hooks, credential helpers,
protocols: file, HTTPS, SSH) is exactly theirs, and it is already on every host that runs notebooks.

Hosted repositories (a project's seed repository) are bare repositories under ``<home>/git/<name>.git``. The
server reads them as files (a push is noticed by reading the branch's ref, no process) and serves them over
Git's smart HTTP at ``/git/<name>.git`` (:mod:`.http`: ``git http-backend`` behind Basic auth with Shipyard
keys). HTTP rather than only ``file://`` URLs: a notebook's programs run in the job sandbox, where the server's
home is hidden, and users on other machines have no file path to the home; with HTTP both clone and push with
their own keys, and one route with the server's own key check is all it takes. An operator who prefers a Git
server of their own (Gitea/Forgejo, GitHub) points code repositories at it over HTTPS: :mod:`.repos` clones any
URL, and :mod:`.credentials` hands a repository's secret to git through a credential-store file, never the
server's own keys.
"""
