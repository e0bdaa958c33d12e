"""The parts of an evaluation: options, sampling with metrics, statistics, comparisons.

The job that runs them and writes the report is `svgpl_tf.evaluate_lib`.
"""
