"""The optimizer tour: Keras' and kerasopt's first-order optimizers and kerasopt's second-order methods on
2-D surfaces (ill-conditioned quadratic, Rosenbrock, a bounded saddle, Beale).

    python -m recipes.optimizer_tour [--steps 2000] [--tolerance 1e-6] [--out saved_models/optimizer_tour]
    python -m recipes.optimizer_tour --surfaces quadratic --optimizers SGD Newton --steps 30  # smoke

Writes trajectories.png, iterations.md and iterations.json. Each first-order optimizer runs
with the learning rate from --lr-grid that reaches the tolerance in the fewest iterations
(else the lowest final loss); second-order methods need no learning rate.
"""

import argparse
import json
from pathlib import Path

import keras
import numpy as np

import kerasopt
from kerasopt import plotting
from kerasopt._io import write_json, write_text
from kerasopt.second_order import tour

# One line per optimizer. First-order entries map a learning rate to a Keras optimizer;
# second-order entries name a kerasopt.second_order.minimize method.
FIRST_ORDER = {
    "SGD": lambda lr: keras.optimizers.SGD(lr),
    "Momentum": lambda lr: keras.optimizers.SGD(lr, momentum=0.9),
    "Nesterov": lambda lr: keras.optimizers.SGD(lr, momentum=0.9, nesterov=True),
    "AdaGrad": lambda lr: keras.optimizers.Adagrad(lr),
    "RMSProp": lambda lr: keras.optimizers.RMSprop(lr),
    "Adam": lambda lr: keras.optimizers.Adam(lr),
    "Delta-bar-delta": lambda lr: kerasopt.optimizers.DeltaBarDelta(lr),
    "RMSProp+Nesterov": lambda lr: kerasopt.optimizers.RMSpropNesterov(lr),
}
SECOND_ORDER = {
    "CG": "cg",
    "BFGS": "bfgs",
    "L-BFGS": "lbfgs",
    "Newton": "newton",
    "Saddle-free Newton": "saddle_free_newton",
}


def _best_first_order(make, surface, steps, grid, tolerance):
    best = None
    for lr in grid:
        points = tour.keras_trajectory(make(lr), surface, steps)
        hit = tour.iterations_to_tolerance(points, surface, tolerance)
        with np.errstate(over="ignore", invalid="ignore"):
            gap = float(surface.fn(points[-1]) - surface.minimum)
        key = (hit if hit is not None else steps + 1, gap if gap == gap else float("inf"))
        if best is None or key < best[0]:
            best = (key, lr, points, hit, gap)
    return best[1:]


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--steps", type=int, default=2000, help="iterations for first-order optimizers"
    )
    parser.add_argument(
        "--max-iterations", type=int, default=500, help="iterations for second-order methods"
    )
    parser.add_argument(
        "--tolerance", type=float, default=1e-6, help="loss - minimum counted as reached"
    )
    parser.add_argument(
        "--lr-grid", type=float, nargs="+", default=[1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1]
    )
    parser.add_argument(
        "--surfaces",
        nargs="+",
        choices=list(tour.SURFACES),
        default=list(tour.SURFACES),
        help="surfaces to run (default: all)",
    )
    parser.add_argument(
        "--optimizers",
        nargs="+",
        choices=[*FIRST_ORDER, *SECOND_ORDER],
        default=[*FIRST_ORDER, *SECOND_ORDER],
        help="optimizers to run (default: all)",
    )
    parser.add_argument("--out", default="saved_models/optimizer_tour")
    args = parser.parse_args(argv)
    out = Path(args.out)
    surfaces = {name: tour.SURFACES[name] for name in dict.fromkeys(args.surfaces)}
    first = {name: make for name, make in FIRST_ORDER.items() if name in args.optimizers}
    second = {name: m for name, m in SECOND_ORDER.items() if name in args.optimizers}
    rows, trajectories = [], {name: {} for name in surfaces}
    progress = keras.utils.Progbar(len(surfaces) * (len(first) + len(second)))
    for surface_name, surface in surfaces.items():
        for name, make in first.items():
            lr, points, hit, gap = _best_first_order(
                make, surface, args.steps, args.lr_grid, args.tolerance
            )
            trajectories[surface_name][name] = points
            rows.append(
                {
                    "surface": surface_name,
                    "optimizer": name,
                    "learning_rate": lr,
                    "iterations": hit,
                    "budget": args.steps,
                    "final_gap": gap,
                    "final_point": points[-1].tolist(),
                }
            )
            progress.add(1)
        for name, method in second.items():
            points = tour.second_order_trajectory(method, surface, args.max_iterations, gtol=1e-10)
            trajectories[surface_name][name] = points
            rows.append(
                {
                    "surface": surface_name,
                    "optimizer": name,
                    "learning_rate": None,
                    "iterations": tour.iterations_to_tolerance(points, surface, args.tolerance),
                    "budget": args.max_iterations,
                    "final_gap": float(surface.fn(points[-1]) - surface.minimum),
                    "final_point": points[-1].tolist(),
                }
            )
            progress.add(1)
    groups = {
        "first-order (Keras, kerasopt)": list(first),
        "second-order (kerasopt)": list(second),
    }
    plotting.plot_optimizer_tour(
        surfaces, trajectories, {k: v for k, v in groups.items() if v}, out / "trajectories.png"
    )
    write_json(
        out / "iterations.json", {"tolerance": args.tolerance, "rows": rows, "command": vars(args)}
    )
    write_text(out / "iterations.md", _table(rows, args.tolerance))
    print(_table(rows, args.tolerance))
    print(json.dumps({"out": str(out)}))


def _table(rows, tolerance):
    surfaces = list(dict.fromkeys(r["surface"] for r in rows))
    lines = [
        f"Iterations until loss - minimum <= {tolerance:g} (learning rate in brackets; "
        "'> N (gap)' = not reached in N iterations, final gap shown)",
        "",
        "| optimizer | " + " | ".join(surfaces) + " |",
        "|---|" + "---|" * len(surfaces),
    ]
    for name in dict.fromkeys(r["optimizer"] for r in rows):
        cells = []
        for surface in surfaces:
            r = next(r for r in rows if r["optimizer"] == name and r["surface"] == surface)
            cell = (
                str(r["iterations"])
                if r["iterations"] is not None
                else f"> {r['budget']} ({r['final_gap']:.2g})"
            )
            if r["learning_rate"] is not None:
                cell += f" [{r['learning_rate']:g}]"
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
