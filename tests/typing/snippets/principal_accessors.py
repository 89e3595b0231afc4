"""README: typed access to the app and the user of a Principal (no None checks needed)."""

from s2s_guard import Guard, Principal, Requirement


async def handle(guard: Guard, header: str) -> str:
    caller: Principal = await guard.authenticate(header, Requirement(policy="user+app", scopes=["orders.read"]))
    app_id: str = caller.require_app().client_id      # 403 insufficient_scope if the token names no app
    user_id: str = caller.require_user().id
    maybe: str | None = caller.app_id                 # or None, without raising
    return f"{app_id} for {user_id} ({maybe})"
