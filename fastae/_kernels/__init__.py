"""Compiled CPU kernels: activations, dense layers, losses, optimizers, epochs.

This package imports only numpy, numba and math. Every kernel writes into
arrays that the caller allocates, so no kernel allocates on the training path.
"""
