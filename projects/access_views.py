"""Inviting users (administrators only) and accepting an invitation (anyone with its link)."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from projects.access import (
    accept_invitation,
    create_invitation,
    find_invitation,
    is_installation_admin,
)
from projects.access_models import Invitation
from projects.forms import NewUserForm


class InvitationForm(forms.ModelForm):
    class Meta:
        model = Invitation
        fields = ["email", "may_create_projects"]
        labels = {"email": "Email address"}


def _admins_only(request):
    if not is_installation_admin(request.user):
        raise PermissionDenied("Only administrators of this herokucd invite users.")


@login_required
def invitations(request):
    _admins_only(request)
    form, link = InvitationForm(request.POST or None), None
    if request.method == "POST" and form.is_valid():
        token = create_invitation(form, request.user)
        link = request.build_absolute_uri(reverse("invitation_accept", args=[token]))
        form = InvitationForm()
    ctx = {
        "form": form,
        "link": link,
        "days": settings.INVITATION_DAYS,
        "pending": Invitation.objects.pending().select_related("invited_by"),
    }
    return render(request, "registration/invitations.html", ctx)


@login_required
@require_POST
def invitation_revoke(request, pk):
    _admins_only(request)
    if Invitation.objects.pending().filter(pk=pk).update(revoked_at=timezone.now()):
        messages.success(request, "Invitation withdrawn: its link no longer works.")
    else:
        messages.error(request, "That invitation was already used, withdrawn or expired.")
    return redirect("invitations")


def invitation_accept(request, token):
    invitation, problem, status = find_invitation(token)
    if invitation is None:
        return _unusable(request, problem, status)
    form = NewUserForm(request.POST or None, initial={"email": invitation.email})
    if request.method == "POST" and form.is_valid():
        try:
            user = accept_invitation(invitation, form)
        except IntegrityError:  # the same username taken through another invitation just now
            form.add_error("username", "A user with that username already exists.")
        else:
            if user is None:  # used (or withdrawn) while this form was filled in
                return _unusable(request, *find_invitation(token)[1:])
            login(request, user, backend="projects.backends.ModelBackend")
            messages.success(request, f"Welcome, {user.username}.")
            return redirect("home")
    return render(request, "registration/invitation_accept.html", {"form": form})


def _unusable(request, problem, status):
    ctx = {"problem": problem}
    return render(request, "registration/invitation_invalid.html", ctx, status=status)
