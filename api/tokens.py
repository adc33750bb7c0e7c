"""API tokens, self-service: a user makes, lists and revokes their own tokens (issue 15 S9).

Tokens are django-rest-knox's: only a SHA-512 digest is stored, so a token is shown once, when
it is made, and never again (not in the admin, not in the database). Each one expires
(``READERBENCH_API_TOKEN_DAYS`` by default; a user may ask for fewer days, never more). A token is
named in lists and URLs by its *prefix*: its first characters, which identify it to its owner
without being enough to use it.

A token is made only from a login session (the page or the JSON endpoint with a session): the
password behind it is throttled by django-axes, and a leaked token cannot mint its successor, so
it dies at its expiry. Listing and revoking work with a token too, so a script can revoke itself.
What a token may *see* is decided elsewhere, by study membership (:mod:`api.permissions`): a
removed membership removes the API access of every token at once.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods
from knox.models import AuthToken
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from api.schema import ApiAutoSchema


def tokens_for_user(*, user) -> QuerySet[AuthToken]:
    """The user's tokens that have not expired, newest first."""
    return AuthToken.objects.filter(user=user).exclude(expiry__lte=timezone.now()).order_by(
        "-created"
    )


def token_create(*, user, days: int | None = None) -> tuple[AuthToken, str]:
    """Make a token for ``user`` that expires in ``days`` (default and maximum:
    ``READERBENCH_API_TOKEN_DAYS``). Returns the stored row and the token, which exists nowhere
    else: show it once. Refuses with a ``ValidationError`` past the per-user limit."""
    most = settings.READERBENCH_API_TOKEN_DAYS
    if days is None:
        days = most
    if not 1 <= days <= most:
        raise DjangoValidationError(f"days: expected 1 to {most}, received {days}")
    with transaction.atomic():
        # Lock the user's row so that two requests at once cannot both pass the limit.
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        AuthToken.objects.filter(user=user, expiry__lte=timezone.now()).delete()
        limit = settings.READERBENCH_API_TOKENS_PER_USER
        if AuthToken.objects.filter(user=user).count() >= limit:
            raise DjangoValidationError(
                f"you hold {limit} tokens, the most allowed: revoke one first"
            )
        return AuthToken.objects.create(user=user, expiry=timedelta(days=days))


def token_revoke(*, user, prefix: str) -> int:
    """Revoke the user's token(s) with this prefix; the number revoked (0: none of theirs)."""
    deleted, _ = AuthToken.objects.filter(user=user, token_key=prefix).delete()
    return deleted


def token_revoke_all(*, user) -> int:
    deleted, _ = AuthToken.objects.filter(user=user).delete()
    return deleted


class TokenSerializer(serializers.Serializer):
    prefix = serializers.CharField(
        source="token_key", read_only=True,
        help_text="The token's first characters: names it, cannot be used as it.",
    )
    created = serializers.DateTimeField(read_only=True)
    expiry = serializers.DateTimeField(read_only=True)


class NewTokenSerializer(TokenSerializer):
    token = serializers.CharField(
        read_only=True, help_text="The token itself: shown this once, stored only as a hash."
    )


class TokenRequestSerializer(serializers.Serializer):
    days = serializers.IntegerField(
        required=False, min_value=1, help_text="Days until it expires (default: the most)."
    )


class _TokenListSchema(ApiAutoSchema):
    def get_response_serializer(self, path, method):
        return NewTokenSerializer() if method == "POST" else TokenSerializer()


class TokenList(GenericAPIView):
    """Your API tokens: list them (GET), make one (POST, from a login session only: the token
    is in this answer and nowhere else), revoke all of them (DELETE)."""

    schema = _TokenListSchema(tags=["auth"], operation_id_base="Tokens")
    pagination_class = None  # a handful at most (READERBENCH_API_TOKENS_PER_USER)
    serializer_class = TokenSerializer
    request_serializer_class = TokenRequestSerializer

    def get(self, request):
        return Response(TokenSerializer(tokens_for_user(user=request.user), many=True).data)

    def post(self, request):
        if not isinstance(request.successful_authenticator, SessionAuthentication):
            raise PermissionDenied(
                "a token is made from a login session (the password), not with another token"
            )
        params = TokenRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        try:
            row, token = token_create(user=request.user, days=params.validated_data.get("days"))
        except DjangoValidationError as error:
            raise ValidationError({"detail": error.messages[0]}) from None
        row.token = token
        return Response(NewTokenSerializer(row).data, status=status.HTTP_201_CREATED)

    def delete(self, request):
        token_revoke_all(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenDetail(GenericAPIView):
    """Revoke one of your tokens by its prefix (DELETE). Another user's prefix is a 404."""

    schema = ApiAutoSchema(tags=["auth"], operation_id_base="Token")
    serializer_class = TokenSerializer
    path_help = {"prefix": "The token's prefix, as the list shows it."}

    def delete(self, request, prefix: str):
        if not token_revoke(user=request.user, prefix=prefix):
            raise NotFound()
        return Response(status=status.HTTP_204_NO_CONTENT)


@login_required
@require_http_methods(["GET", "POST"])
def token_page(request):
    """The same as a page: make a token (shown once), see and revoke your tokens."""
    new_token, error = None, None
    if request.method == "POST":
        if "revoke" in request.POST:
            token_revoke(user=request.user, prefix=request.POST["revoke"])
        else:
            try:
                raw_days = request.POST.get("days") or None
                days = int(raw_days) if raw_days is not None else None
                _row, new_token = token_create(user=request.user, days=days)
            except ValueError:
                error = f"days: expected a whole number, received {request.POST['days']!r}"
            except DjangoValidationError as exc:
                error = exc.messages[0]
    response = render(request, "registration/api_tokens.html", {
        "tokens": tokens_for_user(user=request.user),
        "new_token": new_token,
        "error": error,
        "max_days": settings.READERBENCH_API_TOKEN_DAYS,
    }, status=400 if error else 200)
    response["Cache-Control"] = "no-store"  # the page may hold a token shown once
    return response
