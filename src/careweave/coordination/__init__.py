"""Care coordination: the shared work of the people around an older person.

Each module takes a `CareRecordAccess` (who is asking, under the access rules and audit) and
reads or writes FHIR R4 resources; how each kind of work is held as FHIR is described in
docs/care-coordination.md. Nothing here knows about HTTP or HTML (careweave.web.coordination
turns it into pages).
"""
