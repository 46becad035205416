"""The serving parts on their own: batch assembly, the latency histogram, request parsing, the
batch-size plan and its bounded set of model copies."""

import asyncio
import itertools
import json

import numpy as np
import pytest

from kerasopt.serve import Batcher, InputError, parse_request
from kerasopt.serve.metrics import Histogram
from kerasopt.serve.runtime import PaddedPredictor, plan_batches


def _run_requests(sizes, **options):
    """Submit requests of `sizes` images at once; return (batch sizes, outputs)."""
    batches = []

    async def main():
        batcher = Batcher(lambda v, x: x[:, 0] * 2, on_batch=batches.append, **options)
        batcher.start()
        futures = [
            batcher.submit("v", np.arange(n, dtype="float32")[:, None] + 10 * i)
            for i, n in enumerate(sizes)
        ]
        outputs = await asyncio.gather(*futures)
        await batcher.stop()
        return outputs

    return batches, asyncio.run(main())


@pytest.mark.portable
@pytest.mark.reference("serve.Batcher")
def test_requests_within_the_timeout_share_a_batch_up_to_its_maximum():
    sizes = [1, 2, 3, 1, 4]
    batches, outputs = _run_requests(sizes, max_batch_size=4, timeout_ms=50)
    # greedy: a batch takes whole requests until it holds >= 4 images
    assert batches == [6, 5]
    for i, (n, out) in enumerate(zip(sizes, outputs, strict=True)):
        np.testing.assert_array_equal(out, (np.arange(n) + 10 * i) * 2)
    alone, _ = _run_requests(sizes, enabled=False)
    assert alone == sizes


@pytest.mark.portable
@pytest.mark.reference("serve.Metrics")
def test_histogram_counts_are_numpy_cumulative_counts():
    values = np.random.default_rng(0).exponential(0.05, 500)
    buckets = (0.001, 0.01, 0.1, 1.0)
    h = Histogram(buckets)
    for v in values:
        h.observe(v)
    counts = [int(line.rsplit(" ", 1)[1]) for line in h.lines("x")[: len(buckets) + 1]]
    assert counts == [int(np.sum(values <= b)) for b in buckets] + [len(values)]
    assert float(h.lines("x")[-2].split()[1]) == pytest.approx(values.sum(), rel=1e-5)


@pytest.mark.portable
@pytest.mark.reference("serve.parse_request", "serve.InputError")
def test_parse_request_forms_and_the_named_example_in_errors():
    image = np.full((2, 2, 3), 7.0).tolist()
    for body in (
        {"instances": [image, image]},
        {"instances": [{"images": image}, {"images": image}]},
        {"inputs": [image, image]},
        {"inputs": {"images": [image, image]}},
    ):
        batch, key = parse_request(json.dumps(body).encode(), "images", (2, 2), 100)
        assert batch.shape == (2, 2, 2, 3) and key in body and float(batch.max()) == 7.0
    with pytest.raises(InputError, match=r"instances\[1\]: image over the limit") as error:
        parse_request(
            json.dumps({"instances": [image, np.zeros((11, 10, 3)).tolist()]}), "images", None, 100
        )
    assert error.value.status == 413
    with pytest.raises(InputError, match=r"instances\[1\]: shape \(3, 3, 3\) differs"):
        parse_request(
            json.dumps({"instances": [image, np.zeros((3, 3, 3)).tolist()]}), "images", None, 100
        )


def _brute_force_cost(seconds, n):
    """The cheapest multiset of sizes covering n images, by enumerating every multiset."""
    sizes = sorted(seconds)
    best = float("inf")
    for counts in itertools.product(*(range(n // s + 2) for s in sizes)):
        covered = sum(c * s for c, s in zip(counts, sizes, strict=True))
        if covered >= n and covered - max(s for c, s in zip(counts, sizes, strict=True) if c) < n:
            best = min(best, sum(c * seconds[s] for c, s in zip(counts, sizes, strict=True)))
    return best


@pytest.mark.portable
def test_plan_batches_is_the_cheapest_covering_by_enumeration():
    rng = np.random.default_rng(0)
    for _ in range(5):
        seconds = dict(zip((1, 2, 4, 8), np.sort(rng.uniform(0.5, 10.0, 4)), strict=True))
        plan = plan_batches(seconds, 8)
        for n in range(1, 9):
            chunks = plan[n]
            # covers n, pads only the last chunk, and costs no more than any other covering
            assert sum(chunks) >= n > sum(chunks[:-1])
            cost = sum(seconds[s] for s in chunks)
            assert cost == pytest.approx(_brute_force_cost(seconds, n))
            assert cost / n <= seconds[1] * (1 + 1e-12)  # never slower per image than batch 1


@pytest.mark.portable
def test_padded_predictor_creates_a_bounded_set_of_copies_up_front():
    from kerasopt.export import Predictor

    shapes, created = {}, []

    def copy():
        index = len(created)
        created.append(index)

        def run(x):  # each copy records the batch sizes it ran: one shape per copy
            shapes.setdefault(index, set()).add(len(x))
            return x[:, 0, 0, :2]

        return Predictor(run, "litert", ["a", "b"], (2, 2))

    first = copy()
    seconds = {1: 1.0, 2: 1.6, 4: 3.0, 8: 9.0}  # batch 8 costs more per image than 4
    padded = PaddedPredictor(first, 8, copies=copy, seconds=seconds)
    assert sorted(padded.instances) == [1, 2, 4] and len(created) == 3
    assert shapes == {0: {1}, 1: {2}, 2: {4}}  # each copy warmed once, at its own size
    rng = np.random.default_rng(1)
    for n in [*range(1, 20), 64]:
        images = rng.uniform(0, 255, (n, 2, 2, 3)).astype("float32")
        np.testing.assert_array_equal(padded(images), images[:, 0, 0, :2])
    assert len(created) == 3 and all(len(s) == 1 for s in shapes.values())
