"""Incentives (嘉许激励): the policy document, pricing, caps, star levels, expiry, what-if, adjustments."""
