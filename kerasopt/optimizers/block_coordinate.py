"""Block coordinate descent around any optimizer: one block of variables per step."""

import re

import keras
from keras import ops

from kerasopt._validation import _fail, check_choice, check_int
from kerasopt.optimizers._wrapper import OptimizerWrapper

_MASK32 = 0xFFFFFFFF


@keras.saving.register_keras_serializable(package="kerasopt")
class BlockCoordinate(OptimizerWrapper):
    """Block coordinate descent (Goodfellow et al., Deep Learning, sec. 8.7.2; Wright,
    "Coordinate descent algorithms", Math. Program. 151, 2015).

    The model variables are split into blocks; each step the wrapped `optimizer` updates
    only the current block. The block changes every `steps_per_block` steps, in order
    (`"cyclic"`: 0, 1, ..., B-1, 0, ...) or at random (`"random"`: block =
    fmix32(period + 0x9E3779B9 * seed) mod B, with period = step // steps_per_block and
    fmix32 the MurmurHash3 finalizer: stateless, identical on every replica and after
    reloading). Variables and optimizer slots of the other blocks are not touched: the
    inner optimizer is applied to the current block's variables only (its `iterations`
    counts every step, so e.g. Adam's bias correction follows the global step).

    The block is chosen with one `switch` per step: on TensorFlow in the cross-replica
    context of `tf.distribute`; on the other backends (JAX, PyTorch), where the step runs
    statelessly, each branch runs the inner optimizer in its own `keras.StatelessScope` and
    returns the new values of every model and optimizer variable, assigned after the switch.

    Args:
        optimizer: the `keras.optimizers.Optimizer` taking the steps, or an identifier
            `keras.optimizers.get` accepts (`"adam"`, a config dict), as in `model.compile`.
        blocks: list of regular expressions, matched (`re.search`) against each
            variable's `path`; a variable belongs to the first block it matches and
            every variable must match one. Or a callable `variable -> int` naming the
            block (blocks are ordered by that number).
        order: `"cyclic"` or `"random"`.
        steps_per_block: int >= 1.
        seed: int >= 0, for `order="random"`.

    Example:
        Each step updates one block; here the kernel, then the bias:

        >>> import keras, numpy as np
        >>> from kerasopt.optimizers import BlockCoordinate
        >>> kernel, bias = keras.Variable([1.0], name="kernel"), keras.Variable([1.0], name="bias")
        >>> opt = BlockCoordinate(keras.optimizers.SGD(0.1), blocks=["kernel", "bias"])
        >>> opt.apply([np.array([1.0]), np.array([1.0])], [kernel, bias])
        >>> [round(float(v.numpy()[0]), 4) for v in (kernel, bias)]
        [0.9, 1.0]
        >>> opt.apply([np.array([1.0]), np.array([1.0])], [kernel, bias])
        >>> [round(float(v.numpy()[0]), 4) for v in (kernel, bias)]
        [0.9, 0.9]

    References:
        Goodfellow, Bengio & Courville, Deep Learning, 2016, sec. 8.7.2.
    """

    def __init__(self, optimizer, blocks, order="cyclic", steps_per_block=1, seed=0, name=None):
        if not callable(blocks):
            if (
                not isinstance(blocks, (list, tuple))
                or not blocks
                or not all(isinstance(b, str) for b in blocks)
            ):
                _fail(
                    "blocks",
                    "a non-empty list of regular expressions or a callable",
                    blocks,
                    TypeError,
                )
            for pattern in blocks:
                try:
                    re.compile(pattern)
                except re.error:
                    _fail("blocks", "a list of valid regular expressions", blocks)
        check_choice("order", order, ("cyclic", "random"))
        check_int("steps_per_block", steps_per_block, minimum=1)
        check_int("seed", seed, minimum=0, maximum=_MASK32)
        super().__init__(optimizer, name=name)
        self.blocks = list(blocks) if not callable(blocks) else blocks
        self.order, self.steps_per_block, self.seed = order, steps_per_block, seed

    def _build_wrapper(self, var_list):
        if callable(self.blocks):
            labels = [self.blocks(v) for v in var_list]
            names = sorted(set(labels))
            assignment = [names.index(label) for label in labels]
            self.num_blocks = len(names)
        else:
            assignment = []
            for v in var_list:
                matches = [i for i, p in enumerate(self.blocks) if re.search(p, v.path)]
                if not matches:
                    _fail(
                        "blocks",
                        f"patterns covering every variable (none matches {v.path!r})",
                        self.blocks,
                    )
                assignment.append(matches[0])
            empty = sorted(set(range(len(self.blocks))) - set(assignment))
            if empty:
                _fail(
                    "blocks",
                    f"patterns that each match a variable (block {empty[0]} matches none)",
                    self.blocks,
                )
            self.num_blocks = len(self.blocks)
        self._block_of = {self._var_key(v): b for v, b in zip(var_list, assignment, strict=True)}

    def current_block(self):
        """Index of the block the next step updates (an int32 tensor)."""
        # The hash needs 32-bit unsigned wrap-around: int64 on TensorFlow, uint32 elsewhere
        # (JAX has no 64-bit integers unless x64 is enabled).
        dtype = "int64" if keras.backend.backend() == "tensorflow" else "uint32"
        period = ops.floor_divide(ops.cast(self.iterations, dtype), self.steps_per_block)
        if self.order == "cyclic":
            return ops.cast(ops.mod(period, self.num_blocks), "int32")

        def wrap(value):
            return ops.bitwise_and(value, ops.convert_to_tensor(_MASK32, dtype))

        x = wrap(ops.add(period, ops.convert_to_tensor((0x9E3779B9 * self.seed) & _MASK32, dtype)))
        for shift, multiplier in ((16, 0x85EBCA6B), (13, 0xC2B2AE35)):
            x = ops.bitwise_xor(x, ops.right_shift(x, ops.convert_to_tensor(shift, dtype)))
            x = wrap(ops.multiply(x, ops.convert_to_tensor(multiplier, dtype)))
        x = ops.bitwise_xor(x, ops.right_shift(x, ops.convert_to_tensor(16, dtype)))
        return ops.cast(ops.mod(x, ops.convert_to_tensor(self.num_blocks, dtype)), "int32")

    def _block_pairs(self, grads, variables, block):
        blocks = [self._block_of[self._var_key(v)] for v in variables]
        pairs = [(g, v) for g, v, b in zip(grads, variables, blocks, strict=True) if b == block]
        return [g for g, _ in pairs], [v for _, v in pairs]

    def _wrapped_apply(self, grads, variables):
        if keras.backend.backend() == "tensorflow":
            self._tf_wrapped_apply(grads, variables)
            return
        state = list(variables) + list(self.inner_optimizer.variables)

        def branch(block):
            def run(values):
                with keras.StatelessScope(
                    state_mapping=list(zip(state, values, strict=True))
                ) as scope:
                    self.inner_optimizer.apply(*self._block_pairs(grads, variables, block))
                return [scope.get_current_value(v) for v in state]

            return run

        values = ops.switch(
            self.current_block(),
            [branch(b) for b in range(self.num_blocks)],
            [ops.convert_to_tensor(v) for v in state],
        )
        for variable, value in zip(state, values, strict=True):
            variable.assign(value)

    def _tf_wrapped_apply(self, grads, variables):
        import tensorflow as tf

        def merge_fn(distribution, grads, variables):
            def branch(block):
                def run():
                    distribution.extended.call_for_each_replica(
                        self.inner_optimizer.apply, args=self._block_pairs(grads, variables, block)
                    )

                return run

            ops.switch(self.current_block(), [branch(b) for b in range(self.num_blocks)])

        tf.distribute.get_replica_context().merge_call(merge_fn, args=(grads, variables))

    def get_config(self):
        config = super().get_config()
        blocks = self.blocks
        if callable(blocks):
            blocks = keras.saving.serialize_keras_object(blocks)
        config.update(
            {
                "blocks": blocks,
                "order": self.order,
                "steps_per_block": self.steps_per_block,
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config["blocks"], dict):
            config["blocks"] = keras.saving.deserialize_keras_object(
                config["blocks"], custom_objects=custom_objects
            )
        return super().from_config(config, custom_objects=custom_objects)
