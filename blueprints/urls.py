from django.urls import path

from blueprints import views

app_name = "blueprints"
urlpatterns = [
    path("", views.blueprint_list, name="list"),
    path("new/", views.blueprint_new, name="new"),
    path("import/", views.blueprint_import_view, name="import"),
    path("<slug:name>/", views.blueprint_detail, name="detail"),
    path("<slug:name>/edit/", views.blueprint_edit, name="edit"),
    path("<slug:name>/edit/json5/", views.blueprint_source_edit, name="source"),
    path("<slug:name>/edit/<slug:section_name>/", views.blueprint_section, name="section"),
    path("<slug:name>/packages/search/", views.package_search, name="package_search"),
    path("<slug:name>/system-ini/preview/", views.system_ini_preview, name="system_ini_preview"),
    path("<slug:name>/history/", views.blueprint_history, name="history"),
    path("<slug:name>/diff/", views.blueprint_diff, name="diff"),
    path("<slug:name>/restore/<int:number>/", views.blueprint_restore_view, name="restore"),
    path("<slug:name>/export/", views.blueprint_export, name="export"),
    path("<slug:name>/import/", views.blueprint_import_update_view, name="import_update"),
]
