import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='EntraIdentity',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('tenant_id', models.CharField(max_length=255)),
                ('subject', models.CharField(max_length=255)),
                ('created', models.DateTimeField(auto_now_add=True)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='entra_identities', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'Entra identity',
                'verbose_name_plural': 'Entra identities',
                'constraints': [models.UniqueConstraint(fields=('tenant_id', 'subject'), name='entra_identity_unique')],
            },
        ),
    ]
