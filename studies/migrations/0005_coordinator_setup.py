# Placeholder, filled by the work that owns it (keeps the migration chain linear).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('studies', '0004_series_slices'),
    ]

    operations = []
