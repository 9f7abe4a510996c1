"""The change path: DynamoDB stream records -> domain events -> EventBridge -> signed outbound webhooks.

Also the per-user usage aggregates kept from the same stream, and the user's settings (alert thresholds,
auto-recharge preferences) that the derivation reads.
"""
