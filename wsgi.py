"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

from app import create_app, devinstance

# Development on a fresh checkout: write the secrets before the factory reads them and create
# the schema, so `flask --app wsgi users create` works before `make run` ever ran. The factory
# itself never writes; in production (or with SECRET_KEY and CREDENTIAL_KEYS set) this does nothing.
fresh = devinstance.write_missing_secrets()
app = create_app()
if fresh:
    devinstance.upgrade_database(app)
