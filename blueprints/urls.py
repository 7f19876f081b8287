from django.urls import path

from blueprints import views

app_name = "blueprints"
urlpatterns = [
    path("", views.blueprint_list, name="list"),
    path("new/", views.blueprint_new, name="new"),
    path("<slug:name>/", views.blueprint_detail, name="detail"),
    path("<slug:name>/edit/", views.blueprint_edit, name="edit"),
]
