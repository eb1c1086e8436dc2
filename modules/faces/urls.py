from __future__ import annotations

from django.urls import path

from modules.faces import api, views

urlpatterns = [
    path("", views.index, name="index"),
    path("compare/", views.compare, name="compare"),
    path("log/", views.log, name="log"),
    path("references/", views.references, name="references"),
    path("references/enroll/", views.enroll, name="enroll"),
    path("references/search/", views.search, name="search"),
    path("references/<int:pk>/delete/", views.delete_reference, name="delete-reference"),
    path("subjects/<int:pk>/erase/", views.erase_subject, name="erase-subject"),
    path("references/<int:pk>/thumbnail/", views.thumbnail, name="thumbnail"),
]

api_urlpatterns = [
    path("", api.RootView.as_view(), name="root"),
    path("compare/", api.CompareView.as_view(), name="compare"),
    path("comparisons/", api.ComparisonListView.as_view(), name="comparisons"),
    path("comparisons/<int:pk>/", api.ComparisonDetailView.as_view(), name="comparison"),
    path(
        "comparisons/<int:pk>/photos/<str:which>/",
        api.ComparisonPhotoView.as_view(),
        name="comparison-photo",
    ),
    path("subjects/", api.SubjectListView.as_view(), name="subjects"),
    path("subjects/<int:pk>/", api.SubjectDetailView.as_view(), name="subject"),
    path("references/", api.ReferenceListView.as_view(), name="references"),
    path("references/<int:pk>/", api.ReferenceDetailView.as_view(), name="reference"),
    path(
        "references/<int:pk>/thumbnail/",
        api.ReferenceThumbnailView.as_view(),
        name="reference-thumbnail",
    ),
    path("search/", api.SearchView.as_view(), name="search"),
]
