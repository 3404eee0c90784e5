"""Runtime operators: the batch-at-a-time building blocks of an operator chain."""
