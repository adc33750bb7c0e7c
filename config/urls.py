from django.contrib import admin
from django.urls import include, path

from readers import views as reader_views

admin.site.site_header = "ReaderBench administration"
admin.site.site_title = "ReaderBench"
admin.site.index_title = "Studies, sites, cases and readers"

urlpatterns = [
    path("", reader_views.home, name="home"),
    path("health/", reader_views.health, name="health"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("inference/", include("inference.urls")),
    path("reports/", include("readers.report_urls")),
    path("api/v1/", include("readers.rest.urls")),
    path("", include("readers.urls")),
]
