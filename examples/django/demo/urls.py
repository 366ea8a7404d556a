from django.contrib import admin
from django.urls import path

from entra_sso_django.views import use_for_admin

from . import views

use_for_admin(admin.site)

urlpatterns = [
    path("", views.home, name="home"),
    path("whoami/", views.whoami, name="whoami"),
    path("private/", views.private, name="private"),
    path("headers/", views.headers, name="headers"),
    path("public/headers/", views.headers, name="public-headers"),
    path("admin/", admin.site.urls),
]
