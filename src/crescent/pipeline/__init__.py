"""The Crescent steps. Each takes plain rows and returns plain rows; executors decide where they run."""
