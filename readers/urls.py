"""The reading pages (``read/``) and the reading API (``api/reading/``): a reader's own
sessions and cases, addressed by opaque per-session tokens."""

from django.urls import path

from readers import reading_api, views

app_name = "reading"

urlpatterns = [
    path("read/", views.worklist, name="worklist"),
    path("studies/<slug:slug>/progress/", views.study_progress, name="progress"),
    path("studies/<slug:slug>/setup/sessions/", views.study_sessions, name="study-sessions"),
    path("read/<str:session_token>/", views.session_start, name="session"),
    path("read/<str:session_token>/<str:case_token>/", views.case_page, name="case"),
    path("api/reading/sessions/", reading_api.sessions, name="api-sessions"),
    path("api/reading/<str:session_token>/next/", reading_api.session_next, name="api-next"),
    path(
        "api/reading/<str:session_token>/cases/<str:case_token>/",
        reading_api.case_detail, name="api-case",
    ),
    path(
        "api/reading/<str:session_token>/cases/<str:case_token>/pixels/",
        reading_api.case_pixels, name="api-pixels",
    ),
    path(
        "api/reading/<str:session_token>/cases/<str:case_token>/other-hip/pixels/",
        reading_api.case_other_hip_pixels, name="api-other-hip",
    ),
    path(
        "api/reading/<str:session_token>/cases/<str:case_token>/heatmap/",
        reading_api.case_heatmap, name="api-heatmap",
    ),
    path(
        "api/reading/<str:session_token>/cases/<str:case_token>/reads/",
        reading_api.case_read, name="api-read",
    ),
]
