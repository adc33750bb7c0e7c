"""The study report pages (``reports/``): researchers and admins of the study only."""

from django.urls import path

from reports import views

app_name = "reports"

urlpatterns = [
    path("<slug:slug>/", views.study_report, name="study"),
    path("<slug:slug>/build/", views.study_report_create, name="build"),
    path("<slug:slug>/<int:pk>/", views.report_detail, name="detail"),
    path("<slug:slug>/<int:pk>/report.pdf", views.report_pdf_view, name="pdf"),
    path("<slug:slug>/<int:pk>/figures/<slug:name>.png", views.report_figure,
         name="figure"),
    path("<slug:slug>/<int:pk>/exports/<str:name>", views.report_export, name="export"),
]
