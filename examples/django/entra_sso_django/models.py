from django.conf import settings
from django.db import models


class EntraIdentity(models.Model):
    """Links a Django user to a signed-in identity: tenant + object id.

    `tenant_id` is the session's `tid` (or, for a provider without tenants, its `idp` issuer);
    `subject` is `oid:<object id>`, or `sub:<sub>` when the session has no `oid`.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="entra_identities")
    tenant_id = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant_id", "subject"],
                                               name="entra_identity_unique")]
        verbose_name = "Entra identity"
        verbose_name_plural = "Entra identities"

    def __str__(self):
        return f"{self.subject} in {self.tenant_id}"
