"""The trainer worker: keeps the labeled-trace store current and serves retrain requests."""
