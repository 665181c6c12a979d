"""Data: synthetic 2-D sets, bundled digits, MNIST/FashionMNIST IDX files and CSV uploads.

Load any of them through :mod:`actviz.data.datasets`.
"""
