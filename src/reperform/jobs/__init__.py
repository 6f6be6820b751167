"""Durable jobs: the database row is the truth; an embedded pool or Celery workers execute them."""
