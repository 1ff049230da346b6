"""Endpoint autoscaling: Application Auto Scaling's target tracking, applied to endpoint variants."""
