"""Image formats, offline inspection and test-image recipes."""
