from django.contrib import admin

from .models import EntraIdentity


@admin.register(EntraIdentity)
class EntraIdentityAdmin(admin.ModelAdmin):
    list_display = ("user", "tenant_id", "subject", "created")
    search_fields = ("user__username", "user__email", "tenant_id", "subject")
    raw_id_fields = ("user",)
