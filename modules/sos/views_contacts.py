"""Operator UI for contacts, contact methods (with a "send test" button) and groups."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, ProtectedError
from django.forms import Form
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from modules.sos import services
from modules.sos.errors import CsvInvalid, SosError
from modules.sos.forms import ContactForm, CsvImportForm, GroupForm, MethodForm
from modules.sos.models import Contact, ContactMethod, Group
from modules.sos.preflight import channel_warnings
from portal.errors import PortalError
from portal.roles import is_operator, operator_required, viewer_required


def _denied(request: HttpRequest) -> HttpResponse:
    return render(request, "errors/403.html", status=403)


def _field(form: Form, exc: SosError) -> str | None:
    """The form field an error is about, when the form has it (else a form-wide error)."""
    field = exc.details.get("field")
    return field if field in form.fields else None


def _warn(request: HttpRequest, kinds: list[str]) -> None:
    """Say at once when a channel just used cannot send as the server is configured."""
    for warning in channel_warnings(kinds):
        messages.warning(request, warning.message)


@viewer_required
def contacts(request: HttpRequest) -> HttpResponse:
    form = ContactForm(request.POST or None)
    method_form = MethodForm(request.POST or None, prefix="m", allow_apprise=request.user.is_staff)
    if request.method == "POST":
        if not is_operator(request.user):
            return _denied(request)
        if form.is_valid():
            method = None
            if method_form.is_valid() and method_form.cleaned_data.get("address"):
                method = dict(method_form.cleaned_data)
            try:
                contact = services.contact_create(
                    name=form.cleaned_data["name"],
                    notes=form.cleaned_data["notes"],
                    is_active=form.cleaned_data["is_active"],
                    groups=list(form.cleaned_data["groups"]),
                    methods=[method] if method else [],
                    allow_apprise=request.user.is_staff,
                )
            except PortalError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Contact {contact.name} added.")
                _warn(request, [method["kind"]] if method else [])
                return redirect("sos:contact", pk=contact.pk)
    query = request.GET.get("q", "").replace("\x00", "").strip()  # PostgreSQL refuses NUL
    queryset = Contact.objects.prefetch_related("methods", "groups")
    if query:
        queryset = queryset.filter(name__icontains=query)
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "sos/contacts.html",
        {
            "page": page,
            "form": form,
            "method_form": method_form,
            "import_form": CsvImportForm(),
            "query": query,
        },
    )


@require_POST
@operator_required
def contacts_import(request: HttpRequest) -> HttpResponse:
    form = CsvImportForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, " ".join(form.non_field_errors()) or "Check the CSV form.")
        return redirect("sos:contacts")
    try:
        report = services.contact_import_csv(data=form.csv_data())
    except CsvInvalid as exc:
        lines = exc.details.get("lines", [])
        detail = "; ".join(f"line {e['line']}: {', '.join(e['errors'])}" for e in lines[:5])
        messages.error(request, f"{exc.message} {detail}".strip())
    else:
        messages.success(
            request,
            f"Imported {report.rows} rows: {report.created} contacts created, {report.updated} "
            f"updated, {report.methods_added} contact methods and {report.groups_created} groups "
            "added.",
        )
    return redirect("sos:contacts")


@viewer_required
def contact_detail(request: HttpRequest, pk: int) -> HttpResponse:
    contact = get_object_or_404(Contact, pk=pk)
    form = ContactForm(
        request.POST if "save" in request.POST else None,
        instance=contact,
        initial={"groups": contact.groups.all()},
    )
    method_form = MethodForm(
        request.POST if "add_method" in request.POST else None,
        allow_apprise=request.user.is_staff,
    )
    if request.method == "POST":
        if not is_operator(request.user):
            return _denied(request)
        if "save" in request.POST and form.is_valid():
            data = form.cleaned_data
            try:
                services.contact_update(
                    contact=contact,
                    name=data["name"],
                    notes=data["notes"],
                    is_active=data["is_active"],
                    groups=list(data["groups"]),
                )
            except SosError as exc:
                form.add_error(_field(form, exc), exc.message)
            else:
                messages.success(request, "Contact saved.")
                return redirect("sos:contact", pk=pk)
        if "add_method" in request.POST and method_form.is_valid():
            try:
                services.contact_method_add(
                    contact=contact,
                    allow_apprise=request.user.is_staff,
                    **method_form.cleaned_data,
                )
            except PortalError as exc:
                method_form.add_error("address", exc.message)
            else:
                messages.success(request, "Contact method added.")
                _warn(request, [method_form.cleaned_data["kind"]])
                return redirect("sos:contact", pk=pk)
    return render(
        request,
        "sos/contact.html",
        {
            "contact": contact,
            "methods": contact.methods.all(),
            "form": form,
            "method_form": method_form,
            "can_act": is_operator(request.user),
            "show_secrets": is_operator(request.user),
        },
    )


@require_POST
@operator_required
def contact_delete(request: HttpRequest, pk: int) -> HttpResponse:
    contact = get_object_or_404(Contact, pk=pk)
    contact.delete()
    messages.success(request, f"Contact {contact.name} deleted; its delivery history is kept.")
    return redirect("sos:contacts")


@require_POST
@operator_required
def method_test(request: HttpRequest, pk: int) -> HttpResponse:
    """One test send; from the page's script the answer is the method's new status line."""
    method = get_object_or_404(ContactMethod.objects.select_related("contact"), pk=pk)
    in_place = request.headers.get("X-Requested-With") == "fetch"
    try:
        result = services.contact_method_test(method=method, by=request.user)
    except SosError as exc:
        if in_place:
            context = {"m": method, "refused": exc.message}
            return render(request, "sos/_method_status.html", context, status=exc.status)
        messages.error(request, exc.message)
        return redirect("sos:contact", pk=method.contact_id)
    if in_place:
        return render(request, "sos/_method_status.html", {"m": method, "result": result})
    if result.ok:
        took = f"{result.duration_ms} ms"
        messages.success(request, f"Test sent to {method.display_address} ({took}).")
    else:
        messages.error(request, f"Test to {method.display_address} failed: {result.error}")
    for warning in result.warnings:
        if warning.message != result.error:  # already said as the failure
            messages.warning(request, warning.message)
    return redirect("sos:contact", pk=method.contact_id)


@require_POST
@operator_required
def method_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    method = get_object_or_404(ContactMethod, pk=pk)
    services.contact_method_update(method=method, is_enabled=not method.is_enabled)
    return redirect("sos:contact", pk=method.contact_id)


@require_POST
@operator_required
def method_delete(request: HttpRequest, pk: int) -> HttpResponse:
    method = get_object_or_404(ContactMethod, pk=pk)
    method.delete()
    messages.success(request, "Contact method deleted.")
    return redirect("sos:contact", pk=method.contact_id)


@viewer_required
def groups(request: HttpRequest) -> HttpResponse:
    form = GroupForm(request.POST or None)
    if request.method == "POST":
        if not is_operator(request.user):
            return _denied(request)
        if form.is_valid():
            try:
                group = services.group_create(
                    name=form.cleaned_data["name"],
                    description=form.cleaned_data["description"],
                    members=form.cleaned_data["members"],
                )
            except SosError as exc:
                form.add_error(_field(form, exc), exc.message)
            else:
                messages.success(request, f"Group {group.name} created.")
                return redirect("sos:group", pk=group.pk)
    all_groups = Group.objects.annotate(n_members=Count("members"))
    return render(request, "sos/groups.html", {"groups": all_groups, "form": form})


@viewer_required
def group_detail(request: HttpRequest, pk: int) -> HttpResponse:
    group = get_object_or_404(Group, pk=pk)
    form = GroupForm(request.POST or None, instance=group)
    if request.method == "POST":
        if not is_operator(request.user):
            return _denied(request)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.group_update(
                    group=group,
                    name=data["name"],
                    description=data["description"],
                    members=data["members"],
                )
            except SosError as exc:
                form.add_error(_field(form, exc), exc.message)
            else:
                messages.success(request, "Group saved.")
                return redirect("sos:group", pk=pk)
    members = group.members.prefetch_related("methods")
    return render(
        request,
        "sos/group.html",
        {"group": group, "form": form, "members": members, "can_act": is_operator(request.user)},
    )


@require_POST
@operator_required
def group_delete(request: HttpRequest, pk: int) -> HttpResponse:
    group = get_object_or_404(Group, pk=pk)
    try:
        group.delete()
    except ProtectedError:
        messages.error(request, "This group is still used.")
        return redirect("sos:group", pk=pk)
    messages.success(request, f"Group {group.name} deleted.")
    return redirect("sos:groups")
