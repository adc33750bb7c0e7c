"""``manage.py create_api_token USERNAME [--days N]``: make an API token for a user and print it.

The token is printed once and stored only as a hash (django-rest-knox); it expires after
``--days`` (default and maximum: READERBENCH_API_TOKEN_DAYS). Users make and revoke their own
at /accounts/tokens/; this is for a coordinator setting up a script account.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from api.tokens import token_create


class Command(BaseCommand):
    help = "Make an API token for USERNAME (printed once, stored hashed, expires)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--days", type=int, default=None,
                            help="days until it expires (default: READERBENCH_API_TOKEN_DAYS)")

    def handle(self, *args, username, days, **options):
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"no active user named {username!r}")
        try:
            row, token = token_create(user=user, days=days)
        except ValidationError as error:
            raise CommandError(error.messages[0]) from None
        self.stderr.write(f"token for {username}, expires {row.expiry:%Y-%m-%d %H:%M %Z}; "
                          "shown this once:")
        self.stdout.write(token)
