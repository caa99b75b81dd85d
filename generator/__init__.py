"""共治 (Gongzhi): a public portal for community co-governance, generated from data kept in git."""

__version__ = "0.1.0"
