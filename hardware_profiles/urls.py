from django.urls import path

from hardware_profiles import views

app_name = "hardware_profiles"
urlpatterns = [
    path("", views.profile_list, name="list"),
    path("new/", views.profile_create, name="create"),
    path("<slug:slug>/", views.profile_detail, name="detail"),
    path("<slug:slug>/edit/", views.profile_edit, name="edit"),
]
