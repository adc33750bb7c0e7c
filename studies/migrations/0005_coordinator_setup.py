# The coordinator's setup pages: labels uploads (dry run, then apply) and the audit of each
# change of a case's reference label.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('studies', '0004_series_slices'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='LabelUpload',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('token', models.UUIDField(help_text='Names this dry run in the apply form.', unique=True)),
                ('file_sha256', models.CharField(help_text='SHA-256 of the uploaded CSV.', max_length=64)),
                ('plan', models.JSONField(help_text='[[case id, label, source, line], ...] of matched rows.')),
                ('state', models.JSONField(help_text='{case id: [label, source, has reads]} when the dry run was made.')),
                ('unmatched', models.JSONField(blank=True, default=list, help_text='[[line, reason], ...]')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('applied_at', models.DateTimeField(blank=True, null=True)),
                ('relabel_read', models.BooleanField(default=False, help_text='The coordinator allowed changing cases that were read.')),
                ('created_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('study', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='label_uploads', to='studies.study')),
            ],
            options={
                'ordering': ['-created_at'],
            },
        ),
        migrations.CreateModel(
            name='LabelChange',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('file_sha256', models.CharField(help_text='SHA-256 of the uploaded CSV.', max_length=64)),
                ('old_label', models.CharField(blank=True, help_text='Empty: was unlabelled.', max_length=32)),
                ('new_label', models.CharField(max_length=32)),
                ('old_source', models.CharField(blank=True, max_length=64)),
                ('new_source', models.CharField(max_length=64)),
                ('case_was_read', models.BooleanField(default=False, help_text='Readers had answered the case before its truth changed.')),
                ('changed_at', models.DateTimeField(auto_now_add=True)),
                ('changed_by', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('image', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='label_changes', to='studies.image')),
                ('study', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='label_changes', to='studies.study')),
                ('batch', models.ForeignKey(help_text='The upload (batch) that made the change.', on_delete=django.db.models.deletion.CASCADE, related_name='changes', to='studies.labelupload')),
            ],
            options={
                'ordering': ['-changed_at', 'image'],
                'constraints': [models.UniqueConstraint(fields=('batch', 'image'), name='label_change_once_per_batch')],
            },
        ),
    ]
