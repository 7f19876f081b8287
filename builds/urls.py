from django.urls import path

from builds import views

app_name = "builds"
urlpatterns = [
    path("", views.build_list, name="list"),
    path("compare/", views.build_compare, name="compare"),
    path("releases/", views.release_history, name="releases"),
    path("<int:build_id>/", views.build_detail, name="detail"),
    path("<int:build_id>/log/", views.build_log, name="log"),
    path("<int:build_id>/cancel/", views.build_cancel_view, name="cancel"),
    path("<int:build_id>/boot-test/", views.build_boot_test, name="boot_test"),
    path(
        "<int:build_id>/boot-test/cancel/",
        views.build_boot_test_cancel_view,
        name="boot_test_cancel",
    ),
    path("<int:build_id>/release/", views.build_release_view, name="release"),
    path("<int:build_id>/withdraw/", views.build_withdraw_view, name="withdraw"),
    path("<int:build_id>/rebuild/", views.build_rebuild_view, name="rebuild"),
    path("<int:build_id>/download/<slug:kind>/", views.artifact_download, name="download"),
    path("<int:build_id>/personalise/", views.build_personalise, name="personalise"),
    path(
        "<int:build_id>/personalise/<slug:token>.sha256",
        views.build_personal_checksum,
        name="personal_checksum",
    ),
    path("start/<slug:name>/", views.build_start, name="start"),
]
