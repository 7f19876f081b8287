from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from genpack_site import views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("blueprints/", include("blueprints.urls")),
    path("builds/", include("builds.urls")),
    path("profiles/", include("hardware_profiles.urls")),
    path("admin/", admin.site.urls),
]
