"""fanout-bench: measure fan-out architectures on AWS, simulated or for real."""

__version__ = "0.1.0"
