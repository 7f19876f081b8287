from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("", views.people_list, name="people"),
    path("new/", views.person_new, name="new"),
    path("<int:pk>/", views.person_detail, name="detail"),
    path("<int:pk>/role/", views.person_role_change, name="role"),
    path("<int:pk>/deactivate/", views.person_deactivate_view, name="deactivate"),
    path("<int:pk>/reactivate/", views.person_reactivate_view, name="reactivate"),
    path("<int:pk>/password-link/", views.person_password_link, name="password_link"),
]
