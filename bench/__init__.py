"""Side-by-side benchmarks of mtserve against minimal baselines (``backend bench``)."""
