"""An order, and whether its confirmation was sent."""

from django.db import models


class Order(models.Model):
    email = models.EmailField()
    total_cents = models.PositiveIntegerField()
    confirmation_sent = models.BooleanField(default=False)
