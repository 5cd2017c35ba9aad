"""Foreach fan-outs: task ids, self.input/self.index, foreach_stack, joins, nesting."""

from rayflow import FlowSpec, JSONType, Parameter, current, step


class ForeachFlow(FlowSpec):
    @step
    def start(self):
        self.items = ["a", "b", "c", "d"]
        self.outside = (self.input, self.index, self.foreach_stack())
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.seen = (self.input, self.index, current.task_id)
        self.up = self.input.upper()
        self.next(self.later)

    @step
    def later(self):
        # still inside the foreach body: input and index are those of this split
        self.later_seen = (self.input, self.index, self.foreach_stack())
        self.next(self.join)

    @step
    def join(self, inputs):
        self.ups = [inp.up for inp in inputs]
        self.indexes = [inp.index for inp in inputs]
        self.join_input = (self.input, self.index)
        self.next(self.end)

    @step
    def end(self):
        pass


def test_foreach_runs_one_task_per_item_with_input_and_index(run_flow):
    out = run_flow(ForeachFlow)
    assert out.successful
    run = out.run
    assert run["start"].task.data.outside == (None, None, [])
    tasks = run["work"].tasks()
    assert [t.id for t in tasks] == ["0", "1", "2", "3"]
    assert [t.data.seen for t in tasks] == [
        ("a", 0, "0"),
        ("b", 1, "1"),
        ("c", 2, "2"),
        ("d", 3, "3"),
    ]
    assert run["work"]["2"].data.up == "C"


def test_input_index_and_foreach_stack_hold_in_every_step_of_the_foreach_body(run_flow):
    out = run_flow(ForeachFlow)
    later = out.run["later"].tasks()
    assert [t.id for t in later] == ["0", "1", "2", "3"]
    assert later[1].data.later_seen == ("b", 1, [(1, 4, "b")])
    assert later[3].data.later_seen == ("d", 3, [(3, 4, "d")])


def test_foreach_join_sees_inputs_ordered_by_split_index_and_no_input_of_its_own(run_flow):
    out = run_flow(ForeachFlow)
    join = out.run["join"].task
    assert join.id == "0"
    assert join.data.ups == ["A", "B", "C", "D"]
    assert join.data.indexes == [0, 1, 2, 3]
    assert join.data.join_input == (None, None)


class SlowFirstFlow(FlowSpec):
    """Early splits finish last, so arrival order differs from index order."""

    @step
    def start(self):
        self.items = [0.6, 0.3, 0.0, 0.0]
        self.next(self.work, foreach="items")

    @step
    def work(self):
        import time

        time.sleep(self.input)
        self.me = self.index
        self.next(self.join)

    @step
    def join(self, inputs):
        self.order = [inp.me for inp in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


def test_foreach_join_orders_inputs_by_index_not_by_finishing_time(run_flow):
    out = run_flow(SlowFirstFlow)
    assert out.successful
    assert out.run["join"].task.data.order == [0, 1, 2, 3]


class NestedForeachFlow(FlowSpec):
    @step
    def start(self):
        self.outer = ["x", "y"]
        self.next(self.mid, foreach="outer")

    @step
    def mid(self):
        self.inner = [1, 2, 3]
        self.next(self.leaf, foreach="inner")

    @step
    def leaf(self):
        self.stack = self.foreach_stack()
        self.tag = f"{self.foreach_stack()[0][2]}{self.input}"
        self.where = (current.task_id, self.index)
        self.next(self.inner_join)

    @step
    def inner_join(self, inputs):
        self.tags = [i.tag for i in inputs]
        self.outer_input = (self.input, self.index)
        self.stack_in_join = self.foreach_stack()
        self.input_views = [(i.input, i.index, i.foreach_stack()) for i in inputs][:2]
        self.next(self.outer_join)

    @step
    def outer_join(self, inputs):
        self.all_tags = [t for i in inputs for t in i.tags]
        self.next(self.end)

    @step
    def end(self):
        pass


def test_nested_foreach_task_ids_stack_and_joins(run_flow):
    out = run_flow(NestedForeachFlow)
    assert out.successful
    run = out.run
    leaves = run["leaf"].tasks()
    assert [t.id for t in leaves] == ["0.0", "0.1", "0.2", "1.0", "1.1", "1.2"]
    t12 = run["leaf"]["1.2"]
    assert t12.data.where == ("1.2", 2)
    assert t12.data.stack == [(1, 2, "y"), (2, 3, 3)]
    assert t12.data.tag == "y3"
    inner = run["inner_join"].tasks()
    assert [t.id for t in inner] == ["0", "1"]
    assert inner[1].data.tags == ["y1", "y2", "y3"]
    # the inner join is back inside the outer foreach
    assert inner[1].data.outer_input == ("y", 1)
    assert inner[1].data.stack_in_join == [(1, 2, "y")]
    assert inner[1].data.input_views == [
        (1, 0, [(1, 2, "y"), (0, 3, 1)]),
        (2, 1, [(1, 2, "y"), (1, 3, 2)]),
    ]
    assert run.data.all_tags == ["x1", "x2", "x3", "y1", "y2", "y3"]
    assert run["outer_join"].task.id == "0"


class IterablesFlow(FlowSpec):
    @step
    def start(self):
        self.rng = range(3, 6)
        self.next(self.over_range, foreach="rng")

    @step
    def over_range(self):
        self.v = self.input
        self.next(self.join_range)

    @step
    def join_range(self, inputs):
        self.from_range = [i.v for i in inputs]
        self.word = "hey"
        self.next(self.over_str, foreach="word")

    @step
    def over_str(self):
        self.c = self.input
        self.next(self.join_str)

    @step
    def join_str(self, inputs):
        self.from_str = [i.c for i in inputs]
        self.pair = (7, 8)
        self.next(self.over_tuple, foreach="pair")

    @step
    def over_tuple(self):
        self.t = self.input * 2
        self.next(self.join_tuple)

    @step
    def join_tuple(self, inputs):
        self.from_tuple = [i.t for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


def test_foreach_over_range_str_and_tuple(run_flow):
    out = run_flow(IterablesFlow)
    assert out.successful, out.failures
    run = out.run
    assert run["join_range"].task.data.from_range == [3, 4, 5]
    assert run["join_str"].task.data.from_str == ["h", "e", "y"]
    assert [t.id for t in run["over_str"].tasks()] == ["0", "1", "2"]
    assert run["join_tuple"].task.data.from_tuple == [14, 16]


class WideFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(200))
        self.next(self.square, foreach="items")

    @step
    def square(self):
        self.sq = self.input * self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.squares = [i.sq for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


def test_foreach_over_200_items_runs_200_tasks_and_joins_them_in_order(run_flow):
    out = run_flow(WideFlow)
    assert out.successful
    assert out.run["join"].task.data.squares == [i * i for i in range(200)]
    ids = [t.id for t in out.run["square"].tasks()]
    assert ids == [str(i) for i in range(200)]


class SplitInsideForeachFlow(FlowSpec):
    @step
    def start(self):
        self.items = [10, 20, 30]
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.base = self.input
        self.next(self.left, self.right)

    @step
    def left(self):
        self.l_val = self.base + 1
        self.l_where = (current.task_id, self.input, self.index)
        self.next(self.branch_join)

    @step
    def right(self):
        self.r_val = self.base + 2
        self.next(self.branch_join)

    @step
    def branch_join(self, inputs):
        self.pair = (inputs.left.l_val, inputs.right.r_val)
        self.where = (current.task_id, self.input, self.index)
        self.next(self.foreach_join)

    @step
    def foreach_join(self, inputs):
        self.pairs = [i.pair for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


def test_static_split_inside_a_foreach_body_joins_per_split(run_flow):
    out = run_flow(SplitInsideForeachFlow)
    assert out.successful, out.failures
    run = out.run
    assert [t.id for t in run["left"].tasks()] == ["0", "1", "2"]
    assert run["left"]["1"].data.l_where == ("1", 20, 1)
    bj = run["branch_join"].tasks()
    assert [t.id for t in bj] == ["0", "1", "2"]
    assert bj[2].data.where == ("2", 30, 2)
    assert run["foreach_join"].task.data.pairs == [(11, 12), (21, 22), (31, 32)]


class ForeachOverParameterFlow(FlowSpec):
    values = Parameter("values", type=JSONType, default="[5, 6]")

    @step
    def start(self):
        self.next(self.work, foreach="values")

    @step
    def work(self):
        self.doubled = self.input * 2
        self.next(self.join)

    @step
    def join(self, inputs):
        self.all = [i.doubled for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


def test_foreach_over_a_parameter(run_flow):
    out = run_flow(ForeachOverParameterFlow, values="[1, 2, 3]")
    assert out.successful, out.failures
    assert out.run["join"].task.data.all == [2, 4, 6]


class BadForeachFlow(FlowSpec):
    kind = None

    @step
    def start(self):
        if self.kind == "int":
            self.items = 5
        elif self.kind == "empty":
            self.items = []
        self.next(self.work, foreach="items")

    @step
    def work(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


def _bad_foreach(kind):
    return type(f"BadForeach_{kind}", (BadForeachFlow,), {"kind": kind})


def test_foreach_over_a_missing_artifact_fails_naming_artifact_and_step(run_flow):
    out = run_flow(_bad_foreach("missing"))
    assert not out.successful
    assert [label for label, _ in out.failures] == ["start/0"]
    message = out.failures[0][1]["message"]
    assert "'items'" in message and "'start'" in message
    assert "work" not in out.run


def test_foreach_over_an_int_fails_naming_artifact_and_step(run_flow):
    out = run_flow(_bad_foreach("int"))
    assert not out.successful
    message = out.failures[0][1]["message"]
    assert "'items'" in message and "'start'" in message
    assert "work" not in out.run


def test_foreach_over_an_empty_list_is_an_error(run_flow):
    out = run_flow(_bad_foreach("empty"))
    assert not out.successful
    message = out.failures[0][1]["message"]
    assert "zero splits" in message and "'items'" in message
    assert "work" not in out.run
