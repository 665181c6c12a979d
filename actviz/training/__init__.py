"""Training: what a job is (:mod:`.config`), the engine that trains it (:mod:`.engine`) and the jobs that run it
in the background (:mod:`.jobs`)."""
