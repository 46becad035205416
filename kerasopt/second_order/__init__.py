"""Full-batch second-order training (Newton, conjugate gradients, BFGS, L-BFGS) with a strong-Wolfe line search. TensorFlow backend."""
