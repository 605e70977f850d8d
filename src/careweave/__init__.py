"""careweave: joined-up care for older adults living with several long-term conditions."""

__version__ = "0.1.0"
