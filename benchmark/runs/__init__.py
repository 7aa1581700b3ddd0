"""Running a profile: configuration, planner, runner, executors, records and provenance."""
