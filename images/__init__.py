"""Image formats, offline inspection, the certification candidate and the test-image recipes."""
