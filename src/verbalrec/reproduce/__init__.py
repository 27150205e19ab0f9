"""The paper end to end: one config, cached steps, Tables 1-2 analogues and a report."""

from .config import ReproduceConfig, load_config, preset_names
from .pipeline import run_reproduce

__all__ = ["ReproduceConfig", "load_config", "preset_names", "run_reproduce"]
