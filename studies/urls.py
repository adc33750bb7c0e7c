"""The coordinator's setup pages (``/studies/``), for the admins of each study."""

from django.urls import path

from studies import views

app_name = "setup"

urlpatterns = [
    path("", views.study_list, name="list"),
    path("new/", views.study_new, name="new"),
    path("<slug:slug>/setup/", views.study_setup, name="study"),
    path("<slug:slug>/setup/labels/", views.labels_upload, name="labels"),
    path("<slug:slug>/setup/labels/apply/", views.labels_apply, name="labels-apply"),
    path("<slug:slug>/setup/labels/<str:token>/", views.labels_dry_run, name="labels-dry-run"),
    path("<slug:slug>/setup/split/", views.study_split, name="split"),
    path("<slug:slug>/setup/readers/", views.study_readers, name="readers"),
    path("<slug:slug>/setup/cases/", views.study_cases, name="cases"),
    path("<slug:slug>/setup/cases/<int:pk>/thumbnail.png", views.case_thumbnail,
         name="thumbnail"),
    path("<slug:slug>/setup/cases/<int:pk>/", views.case_detail, name="case"),
    path("<slug:slug>/setup/cases/<int:pk>/slices/<int:index>.png", views.slice_thumbnail,
         name="slice-thumbnail"),
]
