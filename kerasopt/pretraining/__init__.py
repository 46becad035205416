"""RBMs, DBN greedy layer-wise pretraining and greedy supervised / autoencoder pretraining."""
