"""URLs of a study's sites and browser uploads (namespace ``uploads``), under ``/studies/``."""

from django.urls import path

from studies import upload_views as views

app_name = "uploads"

urlpatterns = [
    path("<slug:slug>/sites/", views.sites, name="sites"),
    path("<slug:slug>/sites/<str:code>/upload/", views.upload, name="upload"),
    path("<slug:slug>/uploads/<int:upload_id>/", views.detail, name="detail"),
    path("<slug:slug>/uploads/<int:upload_id>/chunk/", views.chunk, name="chunk"),
    path("<slug:slug>/uploads/<int:upload_id>/finish/", views.finish, name="finish"),
    path("<slug:slug>/uploads/<int:upload_id>/status.json", views.status, name="status"),
    path("<slug:slug>/uploads/<int:upload_id>/results.csv", views.results_csv, name="csv"),
]
