import keras
import numpy as np
import pytest

from kerasopt.optimizers import BlockCoordinate

pytestmark = pytest.mark.portable


def fmix32_blocks(periods, seed, num_blocks):
    """The documented random order: MurmurHash3's fmix32 of (period + 0x9E3779B9 * seed)."""
    m = 0xFFFFFFFF
    out = []
    for p in periods:
        x = (p + ((0x9E3779B9 * seed) & m)) & m
        x ^= x >> 16
        x = (x * 0x85EBCA6B) & m
        x ^= x >> 13
        x = (x * 0xC2B2AE35) & m
        x ^= x >> 16
        out.append(x % num_blocks)
    return out


@pytest.mark.reference("optimizers.BlockCoordinate")
def test_cyclic_matches_numpy_rule_and_leaves_other_blocks_untouched(quadratic, run_steps):
    # Two variables w0 (3x4) and w1 (5,): block 0 = w0, block 1 = w1; two steps per block.
    inner = keras.optimizers.SGD(0.03, momentum=0.7)
    opt = BlockCoordinate(inner, ["w0", "w1"], steps_per_block=2)
    variables = quadratic.variables()
    opt.build(variables)
    ws = [w.copy() for w in quadratic.initial]
    m = [np.zeros_like(w) for w in ws]
    for t in range(24):
        block = (t // 2) % 2
        before = [v.numpy().copy() for v in variables] + [s.numpy().copy() for s in inner.momentums]
        grads = quadratic.grad([v.numpy() for v in variables])
        opt.apply([keras.ops.convert_to_tensor(g) for g in grads], variables)
        # NumPy: SGD with momentum on the current block only.
        g = quadratic.grad(ws)[block]
        m[block] = 0.7 * m[block] - 0.03 * g
        ws[block] = ws[block] + m[block]
        other = 1 - block
        np.testing.assert_array_equal(variables[other].numpy(), before[other])
        np.testing.assert_array_equal(inner.momentums[other].numpy(), before[2 + other])
        for v, w in zip(variables, ws, strict=True):
            np.testing.assert_allclose(v.numpy(), w, atol=1e-6, rtol=0)


@pytest.mark.reference("optimizers.BlockCoordinate")
def test_random_order_follows_the_documented_hash_and_is_balanced():
    v = [keras.Variable(np.zeros(2), name=f"v{i}") for i in range(3)]
    opt = BlockCoordinate(
        keras.optimizers.SGD(0.1), ["v0", "v1", "v2"], order="random", steps_per_block=3, seed=7
    )
    opt.build(v)
    got = []
    for _t in range(30):
        got.append(int(opt.current_block()))
        opt.apply([keras.ops.ones(2)] * 3, v)
    assert got == [b for p in range(10) for b in fmix32_blocks([p], 7, 3) * 3]
    # The optimizer's blocks over 3000 periods: the documented hash, and spread evenly
    # (each block within 5 sigma of 1000).
    blocks = []
    for period in range(3000):
        opt.iterations.assign(3 * period)
        blocks.append(int(opt.current_block()))
    assert blocks == list(fmix32_blocks(range(3000), 7, 3))
    counts = np.bincount(blocks, minlength=3)
    assert np.all(np.abs(counts - 1000) < 5 * np.sqrt(3000 * (1 / 3) * (2 / 3)))


def test_callable_blocks():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)])
    opt = BlockCoordinate(keras.optimizers.SGD(0.1), lambda v: 0 if "bias" in v.path else 1)
    opt.build(model.trainable_variables)
    assert opt.num_blocks == 2
    before = [v.numpy().copy() for v in model.trainable_variables]
    opt.apply([keras.ops.ones(v.shape) for v in model.trainable_variables])  # block 0: biases
    for v, b in zip(model.trainable_variables, before, strict=True):
        assert np.array_equal(v.numpy(), b) == ("kernel" in v.path)


def test_every_variable_must_match_a_block():
    v = [keras.Variable(np.zeros(2), name="a"), keras.Variable(np.zeros(2), name="b")]
    with pytest.raises(ValueError, match="`blocks`.*'b'"):
        BlockCoordinate(keras.optimizers.SGD(), ["a"]).build(v)
    with pytest.raises(ValueError, match="`blocks`.*block 2 matches none"):
        BlockCoordinate(keras.optimizers.SGD(), ["a", "b", "c"]).build(v)


@pytest.mark.parametrize(
    "kwargs, name, error",
    [
        ({"blocks": []}, "blocks", TypeError),
        ({"blocks": ["("]}, "blocks", ValueError),
        ({"order": "shuffled"}, "order", ValueError),
        ({"steps_per_block": 0}, "steps_per_block", ValueError),
    ],
)
def test_argument_validation(kwargs, name, error):
    args = {"optimizer": keras.optimizers.SGD(), "blocks": ["a"], **kwargs}
    with pytest.raises(error, match=f"`{name}`.*{name}="):
        BlockCoordinate(**args)
