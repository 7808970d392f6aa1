"""Blue-green, zero-downtime deploys over SSH."""
