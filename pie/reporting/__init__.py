"""Human-facing output: progress lines, summary tables."""
