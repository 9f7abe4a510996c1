"""Prepaid credits domain: ledger rules, DynamoDB adapter, Stripe gateway, config and typed errors."""
