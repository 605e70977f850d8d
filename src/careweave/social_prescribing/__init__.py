"""Social prescribing: the directory of community services link workers connect people to.

The directory is FHIR R4 (Organization, Location, HealthcareService) in the shared store;
these modules model it, search it in memory, keep it current (staleness, checks, closures) and
exchange it as Open Referral UK (HSDS) JSON and CSV. Nothing here knows about HTTP, HTML or
the command line. docs/directory.md describes every element, code and column.
"""
