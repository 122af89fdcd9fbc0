"""Transfers (转移接续): moves between units of a deployment, and signed packages between deployments."""
