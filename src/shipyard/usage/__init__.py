"""Usage metering: instance-seconds by instance type for every job and endpoint instance, and what they cost.

SageMaker bills training and hosting "by the minute of usage, with no minimum fees". Shipyard runs on the
operator's own hardware, so nothing is billed, but teams still need to know who used what: :mod:`.prices` holds
the operator-editable price table (defaults: public on-demand prices of the same instance names).
"""
