"""Render jobs, in one place: how a job is submitted, run, watched and recovered.

- `submit`: validate a request and create the queued job (also `retry`), and `start`,
  which submits and hands the job to the farm queue (farm mode) or tells the caller to
  run it now (embedded default).
- `execute`: run one job end to end: claim, render, record the outcome (RQ workers and
  inline renders both call it).
- `lifecycle`: every change of a job's state: claim, heartbeat, complete, fail, leave
  processing, cancel, and recovery of jobs whose worker died.
- `tasks`: a render split over the farm: its task rows and their state changes.
- `dispatch`: the RQ queue side (farm mode): enqueue, forget, reconcile.
- `views`: what a job looks like to callers, and the read queries (get, list, logs).
- `timeline`: turns a project's item rows into the engine's timeline items, and the one
  timeline check.
- `previews`: one frame, or a storyboard sheet, drawn before rendering.

Their rows are rendercli.repositories.jobs's. The modules are imported one by one
(`from rendercli.services.renders import views`): nothing here loads the render engine,
RQ or Redis until a function needs them.
"""

# The RQ names of the only two functions a render worker runs (the contract in Redis):
# `dispatch` enqueues them; rendercli.rq_guard defines them (rendercli.worker re-exports).
RENDER_FUNCTION = "rendercli.worker.render"  # a whole render job (or its split)
TASK_FUNCTION = "rendercli.worker.render_task"  # one task of a split render job
