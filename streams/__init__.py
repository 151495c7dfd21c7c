"""The stream layer: brokers, Kafka clients and the Faust app that wire the ``pioneer`` library to topics."""
