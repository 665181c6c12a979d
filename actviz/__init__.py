"""actviz: explore neural-network activation functions (core library; no UI imports here)."""

__version__ = "0.1.0"
