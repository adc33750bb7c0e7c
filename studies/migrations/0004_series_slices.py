"""The series is the case: a case (Image) has slices (one per file, or per frame of a
multi-frame file), one of which is designated for grading and for the model. Every existing
case becomes a one-slice case whose slice is its own file (what it was before)."""

import django.db.models.deletion
from django.db import migrations, models



_COPIED = (
    "content_hash", "file", "frame", "array_file", "mask_file", "sop_instance_uid",
    "modality", "rows", "columns", "pixel_spacing_row", "pixel_spacing_col", "bits_stored",
    "pixel_signed", "rescale_slope", "rescale_intercept", "window_center", "window_width",
)


def one_slice_per_case(apps, schema_editor):
    Image = apps.get_model("studies", "Image")
    Slice = apps.get_model("studies", "Slice")
    batch = []
    for image in Image.objects.order_by("pk").iterator(2000):
        batch.append(Slice(
            study_id=image.study_id, image_id=image.pk, index=0, batch_id=image.batch_id,
            **{name: getattr(image, name) for name in _COPIED},
        ))
        if len(batch) >= 2000:
            Slice.objects.bulk_create(batch)
            batch = []
    Slice.objects.bulk_create(batch)


def no_slices(apps, schema_editor):
    apps.get_model("studies", "Slice").objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ('studies', '0003_import_batch_failure_worker_heartbeat'),
    ]

    operations = [
        migrations.CreateModel(
            name='Slice',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('content_hash', models.CharField(help_text='SHA-256 of the stored de-identified DICOM file.', max_length=64)),
                ('file', models.FileField(help_text='De-identified DICOM, stored by hash.', max_length=255, upload_to='')),
                ('frame', models.PositiveIntegerField(default=0, help_text='Frame of the stored file (0-based): multi-frame files hold a series in one file (Enhanced MR).')),
                ('array_file', models.FileField(blank=True, help_text='Cached preprocessed array (.npy).', max_length=255, upload_to='')),
                ('mask_file', models.FileField(blank=True, help_text='Optional lesion mask (.npy), e.g. for phantoms.', max_length=255, upload_to='')),
                ('sop_instance_uid', models.CharField(help_text='De-identified SOP UID.', max_length=64)),
                ('modality', models.CharField(blank=True, max_length=16)),
                ('rows', models.PositiveIntegerField()),
                ('columns', models.PositiveIntegerField()),
                ('pixel_spacing_row', models.FloatField(blank=True, help_text='mm', null=True)),
                ('pixel_spacing_col', models.FloatField(blank=True, help_text='mm', null=True)),
                ('bits_stored', models.PositiveSmallIntegerField()),
                ('pixel_signed', models.BooleanField(default=False)),
                ('rescale_slope', models.FloatField(default=1.0)),
                ('rescale_intercept', models.FloatField(default=0.0)),
                ('window_center', models.FloatField(blank=True, null=True)),
                ('window_width', models.FloatField(blank=True, null=True)),
                ('index', models.PositiveIntegerField(help_text='0-based place in the ordered stack.')),
                ('position', models.FloatField(blank=True, help_text='mm along the slice normal (for ordering).', null=True)),
                ('instance_number', models.IntegerField(blank=True, null=True)),
            ],
            options={
                'ordering': ['image', 'index'],
            },
        ),
        migrations.AddField(
            model_name='image',
            name='designated_index',
            field=models.PositiveIntegerField(default=0, help_text='Index (0-based, in stack order) of the slice that is graded.'),
        ),
        migrations.AddField(
            model_name='image',
            name='designation',
            field=models.CharField(choices=[('middle', 'middle of the stack (default)'), ('manifest', 'set by the import manifest'), ('coordinator', 'set by a coordinator')], default='middle', max_length=16),
        ),
        migrations.AddField(
            model_name='image',
            name='frame',
            field=models.PositiveIntegerField(default=0, help_text='Frame of the stored file (0-based): multi-frame files hold a series in one file (Enhanced MR).'),
        ),
        migrations.AddField(
            model_name='image',
            name='series_instance_uid',
            field=models.CharField(blank=True, db_index=True, help_text='De-identified Series Instance UID: the files of one series are one case. Empty for cases imported before series were grouped (one file, one case).', max_length=64),
        ),
        migrations.AddConstraint(
            model_name='image',
            constraint=models.CheckConstraint(condition=models.Q(('designation__in', ['middle', 'manifest', 'coordinator'])), name='image_designation_valid'),
        ),
        migrations.AddField(
            model_name='slice',
            name='batch',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='slices', to='studies.importbatch'),
        ),
        migrations.AddField(
            model_name='slice',
            name='image',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='slices', to='studies.image'),
        ),
        migrations.AddField(
            model_name='slice',
            name='study',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='slices', to='studies.study'),
        ),
        migrations.AddIndex(
            model_name='slice',
            index=models.Index(fields=['image', 'index'], name='studies_sli_image_i_3265ba_idx'),
        ),
        migrations.AddConstraint(
            model_name='slice',
            constraint=models.UniqueConstraint(fields=('study', 'content_hash', 'frame'), name='slice_unique_content'),
        ),
        migrations.AddConstraint(
            model_name='slice',
            constraint=models.UniqueConstraint(fields=('study', 'sop_instance_uid', 'frame'), name='slice_unique_instance'),
        ),
        migrations.RunPython(one_slice_per_case, no_slices),
    ]
