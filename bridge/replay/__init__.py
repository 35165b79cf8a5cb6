"""History: recorded traces, replaying them (or the intake log) through rules in simulated time,
sharing a long replay between processes, what the database recorded, and the text report."""
