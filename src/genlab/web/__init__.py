"""The studio's back end: `create_app(settings)` builds a FastAPI app over a SQL
database, a content-addressed image store and a persistent job queue.

Nothing heavy is imported here; FastAPI, SQLAlchemy and the engines load inside the
modules that use them.
"""
