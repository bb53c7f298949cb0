"""Offline replica of customwheeloffset.com behind AWS WAF, for tests, benchmarks and the demo."""
