"""Command-line entry points: ``lra`` (with subcommands), ``lra-run``, ``lra-conformance``,
``lra-profile``, ``lra-report``."""
