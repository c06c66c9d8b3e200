"""Templates and the few formatting helpers they use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from stageflow.domain.records import ObjectType
from stageflow.entrypoints.web.auth import WebUser

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
CURRENCY_SIGNS = {"EUR": "€", "USD": "$", "GBP": "£"}


@dataclass(frozen=True, slots=True)
class NavItem:
    """One link of the sidebar."""

    label: str
    href: str
    group: str | None = None


NAV = (
    NavItem("Leads", "/boards/lead", "Boards"),
    NavItem("Deals", "/boards/deal", "Boards"),
    NavItem("Opportunities", "/boards/opportunity", "Boards"),
    NavItem("Contacts", "/contacts"),
    NavItem("Inbox", "/inbox"),
    NavItem("Automations", "/automations"),
    NavItem("Runs", "/runs"),
    NavItem("Dashboard", "/dashboard"),
    NavItem("Settings", "/settings"),
)


def money(amount: float | None, currency: str | None = None) -> str:
    """``€48,000``; ``CHF 1,200``; no decimals for whole amounts."""
    if amount is None:
        return ""
    text = f"{amount:,.0f}" if float(amount).is_integer() else f"{amount:,.2f}"
    if not currency:
        return text
    sign = CURRENCY_SIGNS.get(currency.upper())
    return f"{sign}{text}" if sign else f"{currency.upper()} {text}"


def days_ago(then: datetime | None, now: datetime) -> str:
    """How long ago, in days, as short as a card needs it ("0 d", "12 d")."""
    if then is None:
        return ""
    return f"{max((now - then).days, 0)} d"


def due_text(due: datetime | None, now: datetime) -> tuple[str, bool]:
    """ "due in 3 days" / "overdue by 2 days" / "no due date", and whether it is overdue."""
    if due is None:
        return "no due date", False
    days = (due.date() - now.date()).days
    if days == 0:
        return ("due today", due < now)
    if days > 0:
        return ("due tomorrow" if days == 1 else f"due in {days} days"), False
    return ("overdue by 1 day" if days == -1 else f"overdue by {-days} days"), True


templates.env.filters["money"] = money
templates.env.filters["plural"] = lambda slug: ObjectType(slug).plural


def page(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    user: WebUser | None,
    status: int = 200,
    active: str | None = None,
) -> HTMLResponse:
    """A whole page (or, for htmx, a partial): the layout gets the user, the sidebar and the
    CSRF token."""
    return templates.TemplateResponse(
        request,
        name,
        {"user": user, "nav": NAV, "active": active or request.url.path, **context},
        status_code=status,
    )
