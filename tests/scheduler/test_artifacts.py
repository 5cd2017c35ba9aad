"""Artifacts: what a step assigns, mutates or inherits is what the next step sees."""

from rayflow import FlowSpec, step


class MutateFlow(FlowSpec):
    @step
    def start(self):
        self.log = ["start"]
        self.counter = {"n": 0}
        self.untouched = "same"
        self.next(self.middle)

    @step
    def middle(self):
        self.log.append("middle")
        self.counter["n"] += 1
        self.next(self.end)

    @step
    def end(self):
        self.final = (self.log, self.counter, self.untouched)


def test_in_place_mutation_of_an_inherited_artifact_is_persisted(run_flow):
    out = run_flow(MutateFlow)
    assert out.successful
    run = out.run
    assert run["start"].task.data.log == ["start"]
    assert run["middle"].task.data.log == ["start", "middle"]
    assert run.data.final == (["start", "middle"], {"n": 1}, "same")
    keys = {run[s].task["untouched"].sha for s in ("start", "middle", "end")}
    assert len(keys) == 1


class BaseFlow(FlowSpec):
    @step
    def start(self):
        self.origin = "base"
        self.next(self.middle)

    @step
    def middle(self):
        self.who = "base middle"
        self.next(self.end)

    @step
    def end(self):
        self.summary = (self.origin, self.who)


class ChildFlow(BaseFlow):
    @step
    def middle(self):
        self.who = "child middle"
        self.next(self.end)


def test_a_subclass_overrides_a_step_of_its_base_flow(run_flow):
    out = run_flow(ChildFlow)
    assert out.successful, out.failures
    assert out.run.data.summary == ("base", "child middle")
    assert out.run.id == out.run_id
    assert out.pathspec == f"ChildFlow/{out.run_id}"


class SizesFlow(FlowSpec):
    @step
    def start(self):
        self.small = "x" * 10
        self.big = bytes(range(256)) * 4096  # 1 MB, kept beside the pickle
        self.next(self.middle)

    @step
    def middle(self):
        self.added = [1, 2, 3]  # small and big are inherited, never read here
        self.next(self.end)

    @step
    def end(self):
        pass


def test_artifact_sizes_are_recorded_when_written_so_no_blob_is_read_to_learn_them(
    run_flow, datastore
):
    import os

    from rayflow import Task
    from rayflow.datastore import BlobStore, open_storage, paths

    out = run_flow(SizesFlow)
    assert out.successful
    storage = open_storage(datastore)
    blobs = BlobStore(storage, "SizesFlow")
    expected = {}
    for name in ("small", "big", "added"):
        key = out.run["end"].task[name].sha
        expected[name] = blobs.get_payload(key).nbytes
        os.remove(
            os.path.join(datastore, paths.blob_file("SizesFlow", key))
        )  # no blob left to read
    task = Task(f"SizesFlow/{out.run_id}/end/0")
    assert {name: task[name].size for name in expected} == expected
    assert expected["big"] > 1_000_000
