"""Handler code that runs inside Lambda and in the simulator: stdlib only, pure functions first."""
