from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from modules.sos import api, views, views_contacts

urlpatterns = [
    path("", views.index, name="index"),
    path("alerts/<int:pk>/", views.alert_detail, name="alert"),
    path("alerts/<int:pk>/live/", views.alert_live, name="alert-live"),
    path("alerts/<int:pk>/cancel/", views.alert_cancel, name="alert-cancel"),
    path("alerts/<int:pk>/resolve/", views.alert_resolve, name="alert-resolve"),
    path("deliveries/<int:pk>/retry/", views.delivery_retry, name="delivery-retry"),
    path("contacts/", views_contacts.contacts, name="contacts"),
    path("contacts/import/", views_contacts.contacts_import, name="contacts-import"),
    path("contacts/<int:pk>/", views_contacts.contact_detail, name="contact"),
    path("contacts/<int:pk>/delete/", views_contacts.contact_delete, name="contact-delete"),
    path("methods/<int:pk>/test/", views_contacts.method_test, name="method-test"),
    path("methods/<int:pk>/toggle/", views_contacts.method_toggle, name="method-toggle"),
    path("methods/<int:pk>/delete/", views_contacts.method_delete, name="method-delete"),
    path("groups/", views_contacts.groups, name="groups"),
    path("groups/<int:pk>/", views_contacts.group_detail, name="group"),
    path("groups/<int:pk>/delete/", views_contacts.group_delete, name="group-delete"),
    # Public: recipients open it from a message without an account; the signed token is the key.
    path("ack/<str:token>/", views.ack, name="ack"),
]

router = SimpleRouter()
router.register("alerts", api.AlertViewSet, basename="alert")
router.register("deliveries", api.DeliveryViewSet, basename="delivery")
router.register("contacts", api.ContactViewSet, basename="contact")
router.register("contact-methods", api.ContactMethodViewSet, basename="contactmethod")
router.register("groups", api.GroupViewSet, basename="group")

api_urlpatterns = [
    path("", api.RootView.as_view(), name="root"),
    path("webhook-schema/", api.WebhookSchemaView.as_view(), name="webhook-schema"),
    path("", include(router.urls)),
]
