"""The monitor: join logs and labels, cluster failures, detect emerging patterns, request retraining."""
