"""verbalrec: learned verbalization of interaction logs for LLM-based recommendation.

The package layout is the pipeline: ``logs`` -> ``tasks`` -> ``verbalize`` -> ``reason``
-> ``evaluate``, with a thin ``cli`` on top.
"""

__version__ = "0.1.0"
