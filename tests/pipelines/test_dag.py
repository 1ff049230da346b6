"""What may run next: readiness over upstream statuses, branch outcomes, failures and selective execution."""

from __future__ import annotations

from shipyard.pipelines.dag import finished, ready, running, skipped
from shipyard.pipelines.definition import parse

IF_BRANCH = {"Train", "Model-CreateModel", "Score", "Notify", "Report"}


def test_steps_become_ready_as_their_inputs_succeed(sdk_definition):
    defn = parse(sdk_definition)
    assert ready(defn, {}, {}) == ["Prep"]
    assert not finished(defn, {}, {})
    assert ready(defn, {"Prep": "Executing"}, {}) == []
    assert running({"Prep": "Executing", "X": "Succeeded", "Y": "Stopping"}) == {"Prep", "Y"}
    assert not finished(defn, {"Prep": "Executing"}, {})
    assert ready(defn, {"Prep": "Succeeded"}, {}) == ["Check"]
    statuses = {"Prep": "Succeeded", "Check": "Succeeded"}
    # a Condition that succeeded without a recorded outcome opens neither branch
    assert ready(defn, statuses, {}) == [] and skipped(defn, statuses, {}) == set()


def test_the_branch_taken_runs_and_the_other_is_skipped(sdk_definition):
    defn = parse(sdk_definition)
    statuses = {"Prep": "Succeeded", "Check": "Succeeded"}
    assert ready(defn, statuses, {"Check": True}) == ["Train"]
    assert skipped(defn, statuses, {"Check": True}) == {"Stop"}
    statuses.update(Train="Succeeded")
    assert ready(defn, statuses, {"Check": True}) == ["Model-CreateModel", "Notify"]  # in parallel
    statuses.update({"Model-CreateModel": "Succeeded", "Notify": "Executing"})
    assert ready(defn, statuses, {"Check": True}) == ["Score"]
    statuses.update(Score="Succeeded", Notify="Succeeded")
    assert ready(defn, statuses, {"Check": True}) == ["Report"]  # a top-level step after a branch step
    statuses.update(Report="Succeeded")
    assert finished(defn, statuses, {"Check": True})

    else_statuses = {"Prep": "Succeeded", "Check": "Succeeded"}
    assert ready(defn, else_statuses, {"Check": False}) == ["Stop"]
    assert skipped(defn, else_statuses, {"Check": False}) == IF_BRANCH  # Report: downstream of a skipped step
    else_statuses.update(Stop="Failed")
    assert finished(defn, else_statuses, {"Check": False})


def test_a_failed_or_stopped_step_blocks_what_follows_but_not_its_siblings():
    defn = parse({"Version": "2020-12-01", "Steps": [
        {"Name": "A", "Type": "Processing", "Arguments": {}},
        {"Name": "B", "Type": "Processing", "Arguments": {}},
        {"Name": "C", "Type": "Training", "Arguments": {"In": {"Get": "Steps.A.ProcessingJobArn"}}},
        {"Name": "D", "Type": "Training", "Arguments": {}, "DependsOn": ["C", "B"]},
        {"Name": "E", "Type": "Training", "Arguments": {}, "DependsOn": ["B"]}]})
    assert ready(defn, {}, {}) == ["A", "B"]
    statuses = {"A": "Failed", "B": "Executing"}
    assert ready(defn, statuses, {}) == []
    assert skipped(defn, statuses, {}) == {"C", "D"}
    assert not finished(defn, statuses, {})
    statuses["B"] = "Succeeded"
    assert ready(defn, statuses, {}) == ["E"]
    statuses["E"] = "Stopped"
    assert skipped(defn, statuses, {}) == {"C", "D"}
    assert finished(defn, statuses, {})
    assert skipped(defn, {"A": "Succeeded", "B": "Stopped"}, {}) == {"D", "E"}


def test_selective_execution_runs_only_the_selected_steps(sdk_definition):
    defn = parse(sdk_definition)
    # Score alone: its inputs (Prep, Model) count as done; its branch needs the reused outcome of Check
    assert ready(defn, {}, {"Check": True}, selected={"Score"}) == ["Score"]
    assert ready(defn, {}, {}, selected={"Score"}) == []
    assert ready(defn, {}, {"Check": False}, selected={"Score"}) == []
    assert skipped(defn, {}, {"Check": False}, selected={"Score"}) == {"Score"}
    # selected steps still wait on each other
    selected = {"Train", "Notify"}
    assert ready(defn, {}, {"Check": True}, selected=selected) == ["Train"]
    assert ready(defn, {"Train": "Succeeded"}, {"Check": True}, selected=selected) == ["Notify"]
    done = {"Train": "Succeeded", "Notify": "Succeeded"}
    assert finished(defn, done, {"Check": True}, selected=selected)
    assert not finished(defn, {"Train": "Succeeded"}, {"Check": True}, selected=selected)


def test_a_branch_not_taken_skips_the_conditions_nested_in_it():
    defn = parse({"Version": "2020-12-01", "Steps": [
        {"Name": "Outer", "Type": "Condition", "Arguments": {
            "Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 2}],
            "IfSteps": [{"Name": "Inner", "Type": "Condition", "Arguments": {
                "Conditions": [{"Type": "Equals", "LeftValue": 1, "RightValue": 1}],
                "IfSteps": [{"Name": "Deep", "Type": "Processing", "Arguments": {}}], "ElseSteps": []}}],
            "ElseSteps": [{"Name": "Other", "Type": "Processing", "Arguments": {}}]}}]})
    statuses = {"Outer": "Succeeded"}
    assert ready(defn, statuses, {"Outer": False}) == ["Other"]
    assert skipped(defn, statuses, {"Outer": False}) == {"Inner", "Deep"}
    assert ready(defn, statuses, {"Outer": True}) == ["Inner"]
    statuses["Inner"] = "Succeeded"
    assert ready(defn, statuses, {"Outer": True, "Inner": True}) == ["Deep"]
    assert skipped(defn, statuses, {"Outer": True, "Inner": True}) == {"Other"}
