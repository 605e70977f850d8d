"""The versioned FHIR resource store: tables, search indexes, transactions and history.

It knows SQLAlchemy and FHIR JSON, and nothing of HTTP.
"""
