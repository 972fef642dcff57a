"""The HTTP surface: Alloy-compatible routes, management routes and app webhooks."""
