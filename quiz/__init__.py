"""latency-quiz: interview prep and skills assessment for AI latency optimization engineers."""

__version__ = "0.1.0"
