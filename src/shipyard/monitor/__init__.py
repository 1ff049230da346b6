"""Model Monitor's pure core: the analyzer (statistics, constraints and violations in AWS's schema) and
schedule expressions. No server, store or API here: the processing program and the monitoring controller
call into it."""
