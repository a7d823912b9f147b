from django.db import migrations, models
from django.db.models import Q, Sum


def count_usage(apps, schema_editor):
    """The counters start from the ledger: what the building and active VMs on each host hold."""
    Host = apps.get_model("compute", "Host")
    holds = Q(vms__provisioning_state__in=("building", "active"))
    for host in Host.objects.annotate(
        v=Sum("vms__vcpus", filter=holds), r=Sum("vms__ram_gib", filter=holds), d=Sum("vms__disk_gib", filter=holds)
    ):
        Host.objects.filter(pk=host.pk).update(used_vcpus=host.v or 0, used_ram_gib=host.r or 0, used_disk_gib=host.d or 0)


class Migration(migrations.Migration):
    dependencies = [
        ("compute", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="host",
            name="used_vcpus",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name="host",
            name="used_ram_gib",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name="host",
            name="used_disk_gib",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.RunPython(count_usage, migrations.RunPython.noop),
    ]
