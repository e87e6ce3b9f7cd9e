"""Security context: who and what an alert touches (users, devices, service principals), looked up in Graph."""
