"""The smallest flow: three steps, one parameter, artifacts passed along."""

from rayflow import FlowSpec, Parameter, current, step


class HelloFlow(FlowSpec):
    name_to_greet = Parameter("name_to_greet", default="world", help="Who to greet.")

    @step
    def start(self):
        self.greeting = f"hello, {self.name_to_greet}"
        print(f"starting {current.pathspec}")
        self.next(self.shout)

    @step
    def shout(self):
        self.loud = self.greeting.upper() + "!"
        print(self.loud)
        self.next(self.end)

    @step
    def end(self):
        print(f"done: {self.loud}")


if __name__ == "__main__":
    HelloFlow()
