"""The Django project of the corral example: settings and URLs."""
