"""What runs on the operator's machine: the release's source and image, the operator's
hooks, webhooks, and ``init`` (a commented hosts.yml for the app repository)."""
