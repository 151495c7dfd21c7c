"""The judge worker: samples unlabelled inference logs, asks a judge, publishes judge labels."""
