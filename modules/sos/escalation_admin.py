"""Escalation policies in the admin: a policy with its steps inline, checked like the API."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from modules.sos.escalation import (
    PolicyInUse,
    StepSpec,
    escalation_policy_delete,
    policy_in_use,
    step_problems,
)
from modules.sos.models import EscalationPolicy, EscalationStep


class EscalationStepForm(forms.ModelForm):
    class Meta:
        model = EscalationStep
        fields = [
            "order",
            "groups",
            "contacts",
            "remind_recipients",
            "delay_min",
            "repeat",
            "stop_rule",
            "responses_needed",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.cleaned_data.get("DELETE"):
            return data
        problems = step_problems(
            StepSpec(
                groups=list(data.get("groups") or []),
                contacts=list(data.get("contacts") or []),
                remind_recipients=bool(data.get("remind_recipients")),
                delay_min=data.get("delay_min") or 0,
                repeat=data.get("repeat") or 0,
                stop_rule=data.get("stop_rule") or "",
                responses_needed=data.get("responses_needed") or 0,
            )
        )
        for field, message in problems.items():
            self.add_error(field, message)
        return data


class EscalationStepInline(admin.StackedInline):
    model = EscalationStep
    form = EscalationStepForm
    extra = 0
    min_num = 1
    filter_horizontal = ["groups", "contacts"]


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(admin.ModelAdmin):
    list_display = ["name", "description", "step_count", "updated_at"]
    search_fields = ["name", "description"]
    inlines = [EscalationStepInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[EscalationPolicy]:
        return super().get_queryset(request).prefetch_related("steps")

    @admin.display(description="Steps")
    def step_count(self, policy: EscalationPolicy) -> int:
        return len(policy.steps.all())

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # The API's 409 guard, before the confirmation page: a policy open alerts escalate
        # with cannot be deleted here either.
        policy = self.get_object(request, object_id)
        if policy is not None and (ids := policy_in_use(policy)):
            messages.error(
                request,
                f"Open alerts are escalating with {policy.name!r} (#{', #'.join(map(str, ids))})"
                ": resolve them first.",
            )
            return redirect("admin:sos_escalationpolicy_change", policy.pk)
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request: HttpRequest, obj: EscalationPolicy) -> None:
        escalation_policy_delete(policy=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[EscalationPolicy]) -> None:
        for policy in queryset:
            try:
                escalation_policy_delete(policy=policy)
            except PolicyInUse as exc:
                messages.error(request, exc.message)
