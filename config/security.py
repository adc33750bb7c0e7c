"""Idle expiry of login sessions (issue 15 S16).

A login session ends ``SESSION_COOKIE_AGE`` seconds (``READERBENCH_SESSION_IDLE_MINUTES``) after
its last request, not two weeks after login: a surgeon who walks away from a reading-room
workstation is logged out. Django's ``SESSION_SAVE_EVERY_REQUEST`` would do it with a database
write on every request (each case, each pixel fetch); this writes at most once a minute.
"""

from __future__ import annotations

import time

from django.conf import settings

_TOUCHED = "_readerbench_touched"
TOUCH_EVERY_SECONDS = 60


class SessionIdleMiddleware:
    """Slides a logged-in session's expiry forward on use. Put after AuthenticationMiddleware."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            now = int(time.time())
            touched = request.session.get(_TOUCHED, 0)
            # An idle session has expired already (its row and cookie carry the expiry, so an
            # expired one never gets here logged in); this moves a live one's expiry forward.
            if now - touched >= min(TOUCH_EVERY_SECONDS, settings.SESSION_COOKIE_AGE // 2):
                request.session[_TOUCHED] = now  # modified: saved, with a new expiry and cookie
        return self.get_response(request)
