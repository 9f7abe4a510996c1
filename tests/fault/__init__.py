"""Fault injection between the service and DynamoDB Local: the ledger guarantees under lost and broken requests."""
