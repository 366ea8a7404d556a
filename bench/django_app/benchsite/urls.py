from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    # The package's default NEXT_URL / LOGIN_FAILED_URL are admin:index / admin:login.
    path("admin/", admin.site.urls),
    path(
        "microsoft_sso/",
        include("django_microsoft_sso.urls", namespace="django_microsoft_sso"),
    ),
]
