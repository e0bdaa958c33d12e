"""The parts of an evaluation: options, sampling with metrics, statistics, comparisons.

The job that runs them is `job`, and `report` writes what it finds.
"""
