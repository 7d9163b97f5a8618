"""`make bench`: throughput of the gateway and the payment pipeline against bare baselines."""
