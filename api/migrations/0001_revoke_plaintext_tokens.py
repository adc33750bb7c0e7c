"""Revoke the API tokens of rest_framework.authtoken, which were stored in plaintext (issue 15
S9): their table is dropped. Tokens are now django-rest-knox's, stored as a hash with an expiry;
holders make new ones at /accounts/tokens/ (or a coordinator with ``create_api_token``)."""

from django.db import migrations


class Migration(migrations.Migration):
    initial = True

    dependencies = [("knox", "0009_extend_authtoken_field")]

    operations = [
        migrations.RunSQL("DROP TABLE IF EXISTS authtoken_token", migrations.RunSQL.noop),
    ]
