"""Settings of the example shop: Django on SQLite, corral on its own store.

``CORRAL`` is this project's own setting (corral reads nothing from Django):
the store's URL and the queue the shop's jobs go to. The URL comes from the
environment in production (``CORRAL_URL=redis://…``); the default is a SQLite
file next to the project, separate from Django's database.
"""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "only-for-the-example")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "testserver"]

INSTALLED_APPS = ["shop"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
ROOT_URLCONF = "mysite.urls"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True

CORRAL = {
    "URL": os.environ.get("CORRAL_URL", f"sqlite:///{BASE_DIR / 'corral.db'}"),
    "QUEUE": "shop",
}
