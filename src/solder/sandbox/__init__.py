"""Local stand-ins for third-party apps, speaking their real wire formats."""
