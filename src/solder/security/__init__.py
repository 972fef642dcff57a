"""Keys, tokens, encryption at rest and outbound signatures."""
