from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from genpack_site import views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Everyone changes their own password; a new person sets theirs with the one-time link an
    # admin gives them (accounts.services.password_link): there is no mail server.
    path("accounts/password/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path(
        "accounts/set-password/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/set-password/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("people/", include("accounts.urls")),
    path("blueprints/", include("blueprints.urls")),
    path("builds/", include("builds.urls")),
    path("profiles/", include("hardware_profiles.urls")),
    path("admin/", admin.site.urls),
]
