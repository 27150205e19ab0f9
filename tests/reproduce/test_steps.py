import json

from verbalrec.reproduce.steps import Steps


def test_a_step_runs_once_per_spec_and_resumes_when_interrupted(tmp_path):
    calls = []

    def fn(step_dir, resume):
        calls.append(resume)
        (step_dir / "out.txt").write_text("x")
        return {"value": len(calls)}

    steps = Steps(tmp_path, log=lambda _: None)
    assert steps.run("a", {"k": 1}, fn) == {"value": 1}
    assert steps.run("a", {"k": 1}, fn) == {"value": 1}      # cached: fn not called again
    assert steps.run("a", {"k": 2}, fn) == {"value": 2}      # changed spec: a new step
    assert calls == [False, False]
    assert [r.cached for r in steps.records] == [False, True, False]

    # an interrupted step (directory without done.json) is called again with resume=True
    interrupted = steps.dir_for("b", {"k": 1})
    interrupted.mkdir(parents=True)
    assert steps.run("b", {"k": 1}, fn) == {"value": 3}
    assert calls[-1] is True
    done = json.loads((interrupted / "done.json").read_text())
    assert done["spec"] == {"k": 1} and done["result"] == {"value": 3}


def test_a_failing_step_leaves_no_done_marker(tmp_path):
    steps = Steps(tmp_path, log=lambda _: None)

    def boom(step_dir, resume):
        raise RuntimeError("killed")

    try:
        steps.run("c", {}, boom)
    except RuntimeError:
        pass
    assert not (steps.dir_for("c", {}) / "done.json").exists()
    assert steps.run("c", {}, lambda d, r: {"resumed": r}) == {"resumed": True}
