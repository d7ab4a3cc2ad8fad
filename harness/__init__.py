"""What the tests and the benchmark share around the emulated stack (`local/`): the stack run as a
subprocess or in this process, a container's cold start, the fake AWS environment, a fault proxy."""
