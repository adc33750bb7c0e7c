from django.contrib import admin
from django.urls import include, path

from api.tokens import token_page
from config import views

admin.site.site_header = "ReaderBench administration"
admin.site.site_title = "ReaderBench"
admin.site.index_title = "Studies, sites, cases and readers"

urlpatterns = [
    path("", views.home, name="home"),
    path("health/", views.health, name="health"),
    # A user's own API tokens, as a page (make one, shown once; revoke): api/tokens.py.
    path("accounts/tokens/", token_page, name="api-tokens"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path("inference/", include("inference.urls")),
    path("reports/", include("reports.urls")),
    path("studies/", include("studies.urls")),
    path("studies/", include("studies.upload_urls")),
    path("api/v1/", include("api.urls")),
    path("", include("readers.urls")),
]

# An outage raised in a middleware answers 503 in the API's JSON shape (config/outages.py).
handler500 = "config.outages.server_error"
