"""The Tokens page (/account/tokens/): my API tokens by name and last use; make one (key shown once), revoke."""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from . import tokens
from .models import User


@login_required
@require_http_methods(["GET", "POST"])
def tokens_page(request: HttpRequest) -> HttpResponse:
    """GET lists; POST action=create makes a token and shows its key in this one response, action=revoke revokes.

    The new key is rendered into the POST's response only (not a message, not the session), so
    reloading or coming back never shows it again.
    """
    user = cast(User, request.user)  # login_required: never AnonymousUser here
    new_key, error, status = None, None, 200
    if request.method == "POST":
        action = request.POST.get("action", "")
        if action == "create":
            try:
                token, new_key = tokens.token_create(user=user, name=request.POST.get("name"))
            except tokens.TokenError as exc:
                error, status = str(exc), 400
        elif action == "revoke":
            token = tokens.token_revoke(token=tokens.access_own_token(user, request.POST.get("token", "")))
            messages.success(request, f"Token “{token.name}” ({token.prefix}…) was revoked; it no longer works.")
            return redirect("courseapp-tokens")
        else:
            error, status = "Choose to make or revoke a token.", 400
    response = render(request, "courseapp/tokens.html", {
        "tokens": tokens.tokens_of(user=user), "new_key": new_key, "error": error,
        "api_base": f"{request.scheme}://{request.get_host()}",
    }, status=status)
    if new_key:
        response["Cache-Control"] = "no-store"  # the key must not stay in a cache or the back button
    return response
