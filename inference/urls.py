from django.urls import path

from inference import views

app_name = "inference"

urlpatterns = [
    path("<slug:slug>/", views.study_models, name="study"),
    path("<slug:slug>/jobs/", views.job_create, name="job-create"),
    path("<slug:slug>/jobs/<int:pk>/", views.job_detail, name="job"),
    path("<slug:slug>/jobs/<int:pk>/retry/", views.job_retry, name="job-retry"),
]
