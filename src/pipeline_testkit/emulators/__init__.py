"""Partner survey tools emulated on 127.0.0.1 for tests, the demo and benchmarks, after each tool's public API."""
