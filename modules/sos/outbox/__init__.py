"""The delivery worker: claim due delivery rows with a lease, send them, record outcomes.

`dispatch.process_due_deliveries()` is the one entry point every runner wakes (the wake thread,
`sos_worker`, `sos_sweep`, Zappa's async task); `reminders` re-queues unanswered deliveries.
"""
