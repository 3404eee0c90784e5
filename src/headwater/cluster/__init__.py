"""The composition root: wires the runtime, the REST API and the TaskManager launchers
into a JobManager process (:mod:`headwater.cluster.entrypoint`) or an embedded mini
cluster (:mod:`headwater.cluster.minicluster`)."""
