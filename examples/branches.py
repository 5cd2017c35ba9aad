"""Static split, nested foreach, joins with merge_artifacts: the constructs in one flow."""

from rayflow import FlowSpec, JSONType, Parameter, step


class BranchesFlow(FlowSpec):
    groups = Parameter(
        "groups",
        default='{"a": [1, 2], "b": [3, 4, 5]}',
        type=JSONType,
        help="Groups of numbers, as JSON.",
    )

    @step
    def start(self):
        self.shared = "from start"
        self.next(self.left, self.right)

    @step
    def left(self):
        self.side = "left"
        self.left_value = 1
        self.next(self.meet)

    @step
    def right(self):
        self.side = "right"
        self.right_value = 2
        self.next(self.meet)

    @step
    def meet(self, inputs):
        self.sides = sorted(inp.side for inp in inputs)
        self.merge_artifacts(inputs, exclude=["side"])
        self.group_names = sorted(self.groups)
        self.next(self.per_group, foreach="group_names")

    @step
    def per_group(self):
        self.group = self.input
        self.numbers = self.groups[self.group]
        self.next(self.square, foreach="numbers")

    @step
    def square(self):
        self.squared = self.input**2
        self.next(self.sum_group)

    @step
    def sum_group(self, inputs):
        self.group_total = sum(inp.squared for inp in inputs)
        self.merge_artifacts(inputs, exclude=["squared"])
        self.next(self.collect)

    @step
    def collect(self, inputs):
        self.totals = {inp.group: inp.group_total for inp in inputs}
        self.merge_artifacts(inputs, include=["shared", "left_value", "right_value"])
        self.next(self.end)

    @step
    def end(self):
        print("totals", self.totals, "shared", self.shared, self.left_value + self.right_value)


if __name__ == "__main__":
    BranchesFlow()
