"""RQ jobs: thin functions taking ids that call the domain services in app/services.

Services enqueue these by dotted path through app.services.queueing (queue names,
job options, idempotent job ids); nothing below app/services imports this package.

worker.py  the worker classes that run every job inside the Flask app context
send.py    process one SentBatch; send one integration (scheduled slot)
tick.py    the one-minute scheduler tick (due schedules, campaign ends, reconciler)
"""
