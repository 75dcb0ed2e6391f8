"""RQ jobs: thin functions taking ids that call the domain services in app/services.

queues.py  queue names, job options and the enqueue helpers (explicit connection=)
worker.py  the worker classes that run every job inside the Flask app context
send.py    process one SentBatch; send one integration (scheduled slot)
tick.py    the one-minute scheduler tick (due schedules, campaign ends, reconciler)
reconcile.py  re-enqueue batches stuck in claimed/stored
"""
