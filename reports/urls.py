"""The study report pages (``reports/``): researchers and admins of the study only."""

from django.urls import path

from reports import views as report_views

app_name = "reports"

urlpatterns = [
    path("<slug:slug>/", report_views.study_report, name="study"),
    path("<slug:slug>/build/", report_views.study_report_create, name="build"),
    path("<slug:slug>/<int:pk>/", report_views.report_detail, name="detail"),
    path("<slug:slug>/<int:pk>/report.pdf", report_views.report_pdf_view, name="pdf"),
    path("<slug:slug>/<int:pk>/figures/<slug:name>.png", report_views.report_figure,
         name="figure"),
    path("<slug:slug>/<int:pk>/exports/<str:name>", report_views.report_export, name="export"),
]
