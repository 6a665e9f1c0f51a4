"""The test kit: partner emulators that speak each tool's API on 127.0.0.1, and the demo partners they serve.

Kept apart from the library (`pipeline` never imports it); the tests, the benchmarks and `pipeline demo` use it.
"""
