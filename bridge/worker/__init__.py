"""The worker runtime: the wiring of a running process, the in-process runner, rq jobs and the
`bridge worker` process, the periodic tick, the sweeper and the timer dispatch."""
