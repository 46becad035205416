"""A clock for the time-budget tests: `remaining()` returns scripted values in turn."""


class ScriptedClock:
    def __init__(self, values):
        self.values = iter(values)

    def remaining(self):
        return next(self.values)
