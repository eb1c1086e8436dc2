from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from modules.sos import (
    api,
    api_contacts,
    api_escalation,
    api_inbound,
    api_integrations,
    api_roll_call,
    views,
    views_contacts,
    views_roll_call,
)

urlpatterns = [
    path("", views.index, name="index"),
    path("alerts/<int:pk>/", views.alert_detail, name="alert"),
    path("alerts/<int:pk>/live/", views.alert_live, name="alert-live"),
    path("alerts/<int:pk>/roll-call/", views_roll_call.roll_call, name="alert-roll-call"),
    path(
        "alerts/<int:pk>/roll-call/live/",
        views_roll_call.roll_call_live,
        name="alert-roll-call-live",
    ),
    path(
        "alerts/<int:pk>/roll-call.csv",
        views_roll_call.roll_call_export,
        name="alert-roll-call-csv",
    ),
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
router.register("contacts", api_contacts.ContactViewSet, basename="contact")
router.register("contact-methods", api_contacts.ContactMethodViewSet, basename="contactmethod")
router.register("groups", api_contacts.GroupViewSet, basename="group")
router.register(
    "escalation-policies", api_escalation.EscalationPolicyViewSet, basename="escalationpolicy"
)
router.register("integrations", api_integrations.IntegrationViewSet, basename="integration")

api_urlpatterns = [
    path("", api.RootView.as_view(), name="root"),
    path("webhook-schema/", api.WebhookSchemaView.as_view(), name="webhook-schema"),
    # Public webhooks of two-way replies: the SNS / Twilio signature is the credential.
    path("inbound/sns/", api_inbound.SnsInboundView.as_view(), name="inbound-sns"),
    path("inbound/twilio/", api_inbound.TwilioInboundView.as_view(), name="inbound-twilio"),
    path(
        "alerts/<int:pk>/roll-call/",
        api_roll_call.RollCallView.as_view(),
        name="alert-roll-call",
    ),
    # Public: PagerDuty's path shape (no trailing slash); the routing key in the body is the key.
    path(
        "events/v2/enqueue",
        api_integrations.EventsEnqueueView.as_view(),
        name="events-v2-enqueue",
    ),
    path("", include(router.urls)),
]
