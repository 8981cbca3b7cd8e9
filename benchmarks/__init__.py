"""Benchmarks that are not tests: the hand-written loop the daemon is compared with, and the comparison."""
