"""The sandbox's paths, named once: the API's own, and the sandbox's pages."""

from __future__ import annotations

AUTHORIZE_PATH = "/oauth/authorize/"
TOKEN_PATH = "/oauth/token/"
CHECK_PATH = "/api/v2/auth/check/"
LOGIN_LINK_PATH = "/api/v2/auth/login-link/"
SIGN_UP_PATH = "/sandbox/sign-up/"
CALLBACK_PATH = "/sandbox/callback/"
SWITCH_USER_PATH = "/sandbox/switch-user/"
