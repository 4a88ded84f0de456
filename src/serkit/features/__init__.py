"""Features: pure torch spectral functions, openSMILE, the on-disk cache and batch extraction."""
