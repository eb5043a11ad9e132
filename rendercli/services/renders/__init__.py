"""Render jobs, in one place: how a job is submitted, run, watched and recovered.

- `submit`: validate a request and create the queued job (also `retry`), and `start`,
  which submits and hands the job to the farm queue (farm mode) or tells the caller to
  run it now (embedded default).
- `execute`: run one job end to end: claim, render, record the outcome (RQ workers and
  inline renders both call it).
- `lifecycle`: every change of a job's state: claim, heartbeat, complete, fail, leave
  processing, cancel, and recovery of jobs whose worker died.
- `claims`: what job and task transitions share: the claim (its attempt fences the
  worker), the log kept to RENDERCLI_LOG_LIMIT, retrying while the database is away.
- `tasks`: a render split over the farm: its task rows and their state changes.
- `dispatch`: the RQ queue side (farm mode): enqueue, forget, reconcile.
- `views`: what a job looks like to callers, and the read queries (get, list, logs).
- `timeline`: turns a project's asset rows into the engine's timeline items.

The modules are imported one by one (`from rendercli.services.renders import views`):
nothing here loads the render engine, RQ or Redis until a function needs them.
"""
