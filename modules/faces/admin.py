"""Faces in the admin. Django imports every admin.py at start-up (each Lambda cold start), so
the services, and the engine and PIL behind them, are imported by the actions that use them."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from modules.faces import models


@admin.register(models.Comparison)
class ComparisonAdmin(admin.ModelAdmin):
    """The comparison log: read-only (it is an audit trail); entries may be deleted."""

    list_display = [
        "created_at",
        "user",
        "source",
        "verdict",
        "error_code",
        "distance",
        "threshold",
        "pick",
        "quality_filter",
        "faces_a",
        "faces_b",
        "has_images",
    ]
    list_filter = ["verdict", "source", "pick", "quality_filter", "created_at"]
    search_fields = ["user__username", "error_code"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]
    readonly_fields = [field.name for field in models.Comparison._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(boolean=True, description="photos stored")
    def has_images(self, obj: models.Comparison) -> bool:
        return obj.has_images


@admin.register(models.Reference)
class ReferenceAdmin(admin.ModelAdmin):
    """References are enrolled from a photo in the UI or the API; here they can be deleted
    (the sealed descriptor and thumbnail go with them). Erase a person from Subjects."""

    list_display = ["name", "subject", "created_by", "created_at", "expires_at", "has_thumbnail"]
    search_fields = ["name", "subject__external_ref"]
    list_filter = ["created_at", "expires_at"]
    list_select_related = ["created_by", "subject"]
    fields = ["name", "subject", "created_by", "created_at", "expires_at", "thumbnail"]
    readonly_fields = ["name", "subject", "created_by", "created_at", "expires_at", "thumbnail"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(boolean=True, description="thumbnail")
    def has_thumbnail(self, obj: models.Reference) -> bool:
        return bool(obj.thumbnail)

    def delete_model(self, request: HttpRequest, obj: models.Reference) -> None:
        from modules.faces.gallery import services

        services.reference_delete(reference=obj)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        from modules.faces.gallery import services

        for reference in queryset:
            services.reference_delete(reference=reference)


class ConsentForm(forms.ModelForm):
    """The same rules as the API: a basis an operator may record, and explicit consent only
    with its text."""

    class Meta:
        model = models.Consent
        fields = ["legal_basis", "text"]

    def clean(self) -> dict[str, Any]:
        from modules.faces.gallery import services

        data = super().clean()
        subject = self.instance.subject
        try:
            services.check_consent(
                data.get("legal_basis"), data.get("text") or "", synthetic=subject.synthetic
            )
        except services.ConsentRequired as exc:
            raise forms.ValidationError(exc.message) from None
        return data


class ConsentInline(admin.TabularInline):
    """Consent records are evidence: added (e.g. for a legacy subject), never edited or
    deleted (erasing the subject removes them)."""

    model = models.Consent
    form = ConsentForm
    extra = 0
    fields = ["legal_basis", "text", "recorded_by", "recorded_at"]
    readonly_fields = ["recorded_by", "recorded_at"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(models.Subject)
class SubjectAdmin(admin.ModelAdmin):
    """People in the gallery and their consent. "Erase" destroys a subject's key, references
    and consent records (the right to erasure); deleting does the same."""

    list_display = ["name", "external_ref", "synthetic", "created_by", "created_at", "faces"]
    search_fields = ["name", "external_ref"]
    list_filter = ["synthetic", "consents__legal_basis", "created_at"]
    list_select_related = ["created_by"]
    fields = ["name", "external_ref", "synthetic", "created_by", "created_at"]
    readonly_fields = ["synthetic", "created_by", "created_at"]
    inlines = [ConsentInline]
    actions = ["erase"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # subjects are created with their key by the service (UI or API)

    @admin.display(description="faces")
    def faces(self, obj: models.Subject) -> int:
        return obj.references.count()

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        from modules.faces.gallery import services

        for consent in formset.save(commit=False):  # new records only: none can be changed
            services.consent_record(
                subject=form.instance,
                legal_basis=consent.legal_basis,
                text=consent.text,
                user=request.user,
            )

    @admin.action(description="Erase the selected subjects (key, faces, consent)")
    def erase(self, request: HttpRequest, queryset: Any) -> None:
        from modules.faces.gallery import services

        erased = faces = 0
        for subject in queryset:
            faces += services.subject_erase(subject=subject, user=request.user)
            erased += 1
        self.message_user(request, f"Erased {erased} subject(s) and {faces} face reference(s).")

    def delete_model(self, request: HttpRequest, obj: models.Subject) -> None:
        from modules.faces.gallery import services

        services.subject_erase(subject=obj, user=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        from modules.faces.gallery import services

        for subject in queryset:
            services.subject_erase(subject=subject, user=request.user)


class MatchAuditInline(admin.TabularInline):
    model = models.MatchAudit
    extra = 0
    can_delete = False
    readonly_fields = ["rank", "reference_id", "subject_id", "distance", "match"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(models.SearchAudit)
class SearchAuditAdmin(admin.ModelAdmin):
    """Every gallery search and what it returned: read-only, pruned after
    FACES_AUDIT_RETENTION_DAYS."""

    list_display = ["created_at", "username", "source", "k", "gallery_size", "results", "matches"]
    list_filter = ["source", "created_at"]
    search_fields = ["username", "hits__reference_id"]
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in models.SearchAudit._meta.fields]
    inlines = [MatchAuditInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(models.GalleryEvent)
class GalleryEventAdmin(admin.ModelAdmin):
    """Enrolments, consents recorded later, erasures and prunes: read-only, pruned after
    FACES_AUDIT_RETENTION_DAYS."""

    list_display = ["created_at", "kind", "username", "subject_id", "reference_id", "count"]
    list_filter = ["kind", "created_at"]
    search_fields = ["username", "subject_id"]
    readonly_fields = [field.name for field in models.GalleryEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
