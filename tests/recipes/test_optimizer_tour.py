"""recipes.optimizer_tour end to end, in this process, at a tiny budget (two surfaces, four
optimizers, 30 steps, 2 rates).

Checked against NumPy restatements of the documented surfaces (the course's formulas in
`kerasopt.second_order.tour`'s docstring) and of gradient descent and heavy-ball momentum
(Keras' documented SGD update), and against Newton's one-step convergence on a quadratic."""

import json

import numpy as np
import pytest

from tests.recipes._outputs import check_folder, check_png

C, S = np.cos(np.pi / 6), np.sin(np.pi / 6)
ROTATION = np.array([[C, S], [-S, C]])  # (u, v) = ROTATION @ (x, y)
HESSIAN = ROTATION.T @ np.diag([1.0, 50.0]) @ ROTATION  # of 0.5 (u^2 + 50 v^2)
SURFACES = {  # function, start, minimum value
    "quadratic": (lambda z: 0.5 * z @ HESSIAN @ z, (-4.0, 2.5), 0.0),
    "rosenbrock": (lambda z: (1 - z[0]) ** 2 + 100 * (z[1] - z[0] ** 2) ** 2, (-1.2, 1.0), 0.0),
    "saddle": (lambda z: z[0] ** 2 - z[1] ** 2 + z[1] ** 4 / 2, (1.5, 0.02), -0.5),
    "beale": (
        lambda z: sum(
            (c - z[0] + z[0] * z[1] ** k) ** 2 for c, k in ((1.5, 1), (2.25, 2), (2.625, 3))
        ),
        (1.0, 1.4),
        0.0,
    ),
}
STEPS, GRID, TOLERANCE = 30, (0.01, 0.03), 1e-3


def heavy_ball(lr, momentum):
    """Keras SGD on the quadratic: v <- momentum v - lr g; z <- z + v. Returns every point.
    Keras holds the rate and the momentum as float32: the step uses their float32 values."""
    lr, momentum = float(np.float32(lr)), float(np.float32(momentum))
    z, v = np.array(SURFACES["quadratic"][1]), np.zeros(2)
    points = [z]
    for _ in range(STEPS):
        v = momentum * v - lr * HESSIAN @ z
        z = z + v
        points.append(z)
    return np.array(points)


def best_rate(momentum):
    """The rate of GRID reaching TOLERANCE first (else the lowest final loss), and its run."""
    runs = {lr: heavy_ball(lr, momentum) for lr in GRID}
    fn = SURFACES["quadratic"][0]

    def key(lr):
        hits = [i for i, p in enumerate(runs[lr]) if fn(p) <= TOLERANCE]
        return (hits[0] if hits else STEPS + 1, fn(runs[lr][-1]))

    lr = min(GRID, key=key)
    return lr, runs[lr], key(lr)[0]


def test_optimizer_tour_tiny_budget(tmp_path):
    from recipes.optimizer_tour import main

    main(
        ["--steps", str(STEPS), "--max-iterations", "20", "--tolerance", str(TOLERANCE)]
        + ["--lr-grid", *map(str, GRID), "--out", str(tmp_path)]
        + ["--surfaces", "quadratic", "saddle"]
        + ["--optimizers", "SGD", "Momentum", "Newton", "Saddle-free Newton"]
    )
    check_folder(tmp_path, ["iterations.json", "iterations.md", "trajectories.png"])
    check_png(tmp_path / "trajectories.png")
    rows = json.loads((tmp_path / "iterations.json").read_text())["rows"]
    by = {(r["surface"], r["optimizer"]): r for r in rows}
    assert sorted(by) == sorted(
        (s, o)
        for s in ("quadratic", "saddle")
        for o in ("SGD", "Momentum", "Newton", "Saddle-free Newton")
    )
    for r in rows:  # every gap from the point, on the restated surface
        fn, _, minimum = SURFACES[r["surface"]]
        assert r["final_gap"] == pytest.approx(fn(np.array(r["final_point"])) - minimum, abs=1e-9)
        assert r["learning_rate"] is None or r["learning_rate"] in GRID
    for name, momentum in (("SGD", 0.0), ("Momentum", 0.9)):
        lr, points, hit = best_rate(momentum)
        row = by["quadratic", name]
        assert row["learning_rate"] == lr
        np.testing.assert_allclose(row["final_point"], points[-1], rtol=1e-9, atol=1e-12)
        assert row["iterations"] == (hit if hit <= STEPS else None)
    # Newton's method minimizes a quadratic in one step (its model of the function is exact)
    newton = by["quadratic", "Newton"]
    assert newton["iterations"] == 1 and abs(newton["final_gap"]) < 1e-12
    # On x^2 - y^2 + y^4 / 2 from (1.5, 0.02), Newton's step solves grad = 0 and is drawn to
    # the saddle at the origin (gap 1/2 above the minima -1/2); saddle-free Newton (|H|) escapes
    # it to a minimum (0, +-1) (Dauphin et al. 2014).
    stuck, escaped = by["saddle", "Newton"], by["saddle", "Saddle-free Newton"]
    np.testing.assert_allclose(stuck["final_point"], [0.0, 0.0], atol=1e-6)
    assert stuck["iterations"] is None
    np.testing.assert_allclose(np.abs(escaped["final_point"]), [0.0, 1.0], atol=1e-3)
    assert escaped["iterations"] is not None
