"""The synthetic place generator: organisations, workforce and an older population, as FHIR R4.

Nothing here is real. Every number it draws from is documented, with its source, in
docs/synthetic-data.md. The generator is deterministic (same seed and options, same bytes) and
streams: one person's record is built, written and forgotten before the next.
"""
