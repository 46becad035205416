"""Argument checks shared by every public kerasopt object.

Each check raises before any work is done, with a message that names the argument and
the value received, in Keras' own style:
"Argument `phi` must be in [0, 1). Received: phi=1.5".
"""

import numbers


def _fail(name, requirement, value, error=ValueError):
    raise error(f"Argument `{name}` must be {requirement}. Received: {name}={value!r}")


def check_number(name, value):
    """`value` must be a real number (bool is rejected)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        _fail(name, "a number", value, TypeError)
    return value


def check_bool(name, value):
    """`value` must be True or False (not 0/1, not a string)."""
    if not isinstance(value, bool):
        _fail(name, "True or False", value, TypeError)
    return value


def check_int(name, value, minimum=None, maximum=None):
    """`value` must be an integer in [minimum, maximum] (either bound optional)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        _fail(name, "an integer", value, TypeError)
    if minimum is not None and value < minimum:
        _fail(name, f"an integer >= {minimum}", value)
    if maximum is not None and value > maximum:
        _fail(name, f"an integer <= {maximum}", value)
    return int(value)


def check_range(name, value, low=None, high=None, low_inclusive=True, high_inclusive=True):
    """`value` must be a number inside the interval given by low/high and inclusiveness."""
    check_number(name, value)
    lo_ok = low is None or (value >= low if low_inclusive else value > low)
    hi_ok = high is None or (value <= high if high_inclusive else value < high)
    if not (lo_ok and hi_ok):
        left = "(-inf" if low is None else ("[" if low_inclusive else "(") + f"{low}"
        right = "inf)" if high is None else f"{high}" + ("]" if high_inclusive else ")")
        _fail(name, f"in {left}, {right}", value)
    return value


def check_positive(name, value):
    """`value` must be a number > 0."""
    return check_range(name, value, low=0, low_inclusive=False)


def check_choice(name, value, choices):
    """`value` must be one of `choices`."""
    if value not in choices:
        _fail(name, "one of " + ", ".join(repr(c) for c in choices), value)
    return value


def check_pair(name, value, positive=False):
    """`value` must be an ordered pair (min, max) of numbers with min <= max."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        _fail(name, "a pair (min, max)", value, TypeError)
    lo, hi = check_number(name, value[0]), check_number(name, value[1])
    if lo > hi:
        _fail(name, "a pair (min, max) with min <= max", value)
    if positive and lo <= 0:
        _fail(name, "a pair of positive numbers", value)
    return (lo, hi)


def check_graph_model(name, value):
    """`value` must be a built Sequential or functional `keras.Model` (one with `inputs`)."""
    import keras

    if not isinstance(value, keras.Model) or not value.built or not getattr(value, "inputs", None):
        _fail(name, "a built Sequential or functional keras.Model", value)
    return value


def check_instance(name, value, types, description):
    """`value` must be an instance of `types` (`description` names them in the message)."""
    if not isinstance(value, types):
        _fail(name, description, value, TypeError)
    return value
