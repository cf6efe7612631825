"""Session-wide test settings."""
import torch


def pytest_configure(config):
    # The models' graphs are small: one intra-op thread is as fast on an idle machine and avoids
    # OpenMP threads spinning against each other when the cores are shared (a 100x slow-down seen).
    torch.set_num_threads(1)
