"""The FHIR R4 resource model: validation, search-value parsing and UK Core identifiers.

Everything here is pure (no database, no HTTP) so that the store, the API and the tests can
share one definition of what a valid resource and a well-formed search value are.
"""
