"""The FHIR R4 REST transport at /fhir/R4: routing, headers, Bundles and OperationOutcomes."""
