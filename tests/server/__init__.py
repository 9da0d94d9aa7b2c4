"""Tests of the embedded server's own parts: state, command line, runner, plugin."""
