"""Built-in LRA tasks (import name ``lra_task_specs``): one folder per task, each holding
``spec.toml`` (the declarative spec) and ``builder.py`` (its data builder)."""
