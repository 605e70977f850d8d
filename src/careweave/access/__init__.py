"""Who may see and do what: accounts, roles, scopes, legitimate relationships, consent,
information-sharing agreements, break-glass and the audit trail (see docs/access-model.md).

Every transport reaches the record through `careweave.access.guard`, never the store directly.
"""
