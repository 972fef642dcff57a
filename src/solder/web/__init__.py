"""What the end user's browser loads: the frontend SDK and the install modal's pages."""
