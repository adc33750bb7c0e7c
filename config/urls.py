from django.contrib import admin
from django.urls import include, path

from config import views

admin.site.site_header = "ReaderBench administration"
admin.site.site_title = "ReaderBench"
admin.site.index_title = "Studies, sites, cases and readers"

urlpatterns = [
    path("", views.home, name="home"),
    path("health/", views.health, name="health"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("inference/", include("inference.urls")),
    path("reports/", include("reports.urls")),
    path("api/v1/", include("api.urls")),
    path("", include("readers.urls")),
]
