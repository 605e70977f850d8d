"""Social prescribing: the pathway from a referral to a link worker, through the "what matters
to me" conversation and onward connections, to the outcome sent back to the referrer, and the
directory of community services link workers connect people to.

The directory is FHIR R4 (Organization, Location, HealthcareService) in the shared store;
these modules model it, search it in memory, keep it current (staleness, checks, closures) and
exchange it as Open Referral UK (HSDS) JSON and CSV. The pathway is coordination's referral
shape with the pathway's own steps, wellbeing measures (ONS4, SWEMWBS) and service reports.
Nothing here knows about HTTP, HTML or the command line: the pages are
careweave.web.social_prescribing, the command careweave.cli_directory. docs/directory.md and
docs/social-prescribing.md describe every element, code and column.
"""
