"""Who a request acts as (``shipyard.server.acting``): a person's key as the person, a notebook's or a job's key
as whoever created the notebook or the job, the server's key as ``root``; what is created inside
``acting_as`` records that name (``shipyard.domain.acting``)."""

from __future__ import annotations

from shipyard.domain.acting import ROOT, acting, acting_as, stamp
from shipyard.domain.job_keys import JobScope
from shipyard.domain.users import Users
from shipyard.metastore import open_metastore
from shipyard.server.acting import acting_name


def test_keys_act_as_the_person_behind_them(tmp_path):
    meta = open_metastore(f"sqlite:///{tmp_path / 'shipyard.db'}")
    try:
        users = Users(tmp_path)
        ana = users.add("ana")
        meta.create("notebook-instance", "nb", "arn:nb", "InService", {"_user": "ana"})
        meta.create("training-job", "job-1", "arn:job-1", "InProgress", {"_user": "bo"})
        assert acting_name(meta) == ROOT
        assert acting_name(meta, user=ana) == "ana"
        assert acting_name(meta, user=users.issue_for_notebook("nb")) == "ana"
        orphan = users.issue_for_notebook("gone")  # no such notebook in the store: the key's own name
        assert acting_name(meta, user=orphan) == orphan.name
        assert acting_name(meta, job=JobScope(kind="training-job", name="job-1")) == "bo"
        assert acting_name(meta, job=JobScope(kind="training-job", name="nope")) == "job/training-job/nope"
    finally:
        meta.close()


def test_stamp_records_who_is_acting_and_never_overwrites():
    assert stamp({}) == {} and acting() == ""
    with acting_as("ana"):
        assert stamp({"x": 1}) == {"x": 1, "_user": "ana"}
        assert stamp({"_user": "bo"}) == {"_user": "bo"}  # a creator named by the caller (a parent's) stays
        with acting_as(""):
            assert stamp({}) == {}
        assert acting() == "ana"
    assert acting() == ""
