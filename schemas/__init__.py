"""Versioned contracts of every event that crosses a topic: ``<event_type>/v<major>.schema.json`` (JSON Schema
draft-07) with valid examples beside each (``v<major>.example*.json``). The Python types in
``pioneer.events.types`` mirror these files."""
