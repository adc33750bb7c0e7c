"""Sites per study (StudySite), the site coordinator role (Membership.site) and browser
uploads (Upload). Every (study, site) pair that already has patients or import batches joins
its study, so the sites lists start complete."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def join_existing_sites(apps, schema_editor):
    Patient = apps.get_model("studies", "Patient")
    ImportBatch = apps.get_model("studies", "ImportBatch")
    StudySite = apps.get_model("studies", "StudySite")
    pairs = set(Patient.objects.values_list("study_id", "site_id").distinct())
    pairs |= set(ImportBatch.objects.values_list("study_id", "site_id").distinct())
    StudySite.objects.bulk_create(
        [StudySite(study_id=study, site_id=site) for study, site in sorted(pairs)],
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):

    dependencies = [
        ('studies', '0005_coordinator_setup'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='StudySite',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('joined_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'ordering': ['study', 'site__code'],
            },
        ),
        migrations.CreateModel(
            name='Upload',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('worker', models.CharField(blank=True, help_text='The Celery worker running (or last to run) it.', max_length=255)),
                ('heartbeat_at', models.DateTimeField(blank=True, help_text='Last time the running task said it was alive.', null=True)),
                ('redeliveries', models.PositiveSmallIntegerField(default=0, help_text='Times the sweep queued it again after its worker was lost (back to 0 when its owner retries it).')),
                ('status', models.CharField(choices=[('receiving', 'receiving files'), ('queued', 'queued for import'), ('running', 'importing'), ('done', 'done'), ('failed', 'failed')], default='receiving', max_length=16)),
                ('files', models.JSONField(blank=True, default=list)),
                ('bytes_expected', models.BigIntegerField(default=0)),
                ('bytes_received', models.BigIntegerField(default=0)),
                ('results', models.JSONField(blank=True, default=list)),
                ('error', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'ordering': ['-created_at'],
            },
        ),
        migrations.RemoveConstraint(
            model_name='membership',
            name='membership_role_valid',
        ),
        migrations.AddField(
            model_name='membership',
            name='site',
            field=models.ForeignKey(blank=True, help_text='The site a site coordinator uploads for; required for that role only.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='coordinators', to='studies.site'),
        ),
        migrations.AlterField(
            model_name='membership',
            name='role',
            field=models.CharField(choices=[('admin', 'admin (study coordinator)'), ('researcher', 'researcher'), ('reader', 'reader'), ('site_coordinator', 'site coordinator (uploads for one site)')], max_length=16),
        ),
        migrations.AddConstraint(
            model_name='membership',
            constraint=models.CheckConstraint(condition=models.Q(('role__in', ['admin', 'researcher', 'reader', 'site_coordinator'])), name='membership_role_valid'),
        ),
        migrations.AddConstraint(
            model_name='membership',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('role', 'site_coordinator'), ('site__isnull', False)), models.Q(models.Q(('role', 'site_coordinator'), _negated=True), ('site__isnull', True)), _connector='OR'), name='membership_site_only_for_site_coordinator'),
        ),
        migrations.AddField(
            model_name='studysite',
            name='site',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='study_sites', to='studies.site'),
        ),
        migrations.AddField(
            model_name='studysite',
            name='study',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='study_sites', to='studies.study'),
        ),
        migrations.AddField(
            model_name='upload',
            name='batch',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='uploads', to='studies.importbatch'),
        ),
        migrations.AddField(
            model_name='upload',
            name='created_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='upload',
            name='site',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='uploads', to='studies.site'),
        ),
        migrations.AddField(
            model_name='upload',
            name='study',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='uploads', to='studies.study'),
        ),
        migrations.AddConstraint(
            model_name='studysite',
            constraint=models.UniqueConstraint(fields=('study', 'site'), name='study_site_unique'),
        ),
        migrations.AddConstraint(
            model_name='upload',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['receiving', 'queued', 'running', 'done', 'failed'])), name='upload_status_valid'),
        ),
        migrations.AddConstraint(
            model_name='upload',
            constraint=models.CheckConstraint(condition=models.Q(('bytes_received__gte', 0), ('bytes_received__lte', models.F('bytes_expected'))), name='upload_bytes_within_expected'),
        ),
        migrations.RunPython(join_existing_sites, migrations.RunPython.noop),
    ]
