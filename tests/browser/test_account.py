"""One-time passwords and the user's own password: `stageflow user create` without
--password prints one, the first sign-in asks for the user's own and nothing else opens until
then; "Your account" changes the password and ends the user's other sessions."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    ConsoleWatch,
    Server,
    check_accessibility,
    screenshot,
    sign_in,
)


def _submit_sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def _cli_user(server: Server, email: str, name: str) -> str:
    output = server.cli("user", "create", "-w", "demo", "--email", email, "--name", name)
    found = re.search(r"one-time password: (\S+)", output)
    assert found is not None, output
    return found.group(1)


def test_a_one_time_password_must_be_replaced_at_the_first_sign_in(
    page: Page, server: Server, console: ConsoleWatch
) -> None:
    console.allow(r"status of 422")  # the two new passwords differ: said at the field
    console.allow(r"status of 401")  # the one-time password after it was replaced
    email = "nina.nuovo@demo.stageflow.local"
    one_time = _cli_user(server, email, "Nina Nuovo")

    _submit_sign_in(page, email, one_time)
    expect(page).to_have_url(re.compile(r"/account/choose-password$"))
    expect(page.get_by_role("heading", name="Choose your password")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
    check_accessibility(page)
    screenshot(page, "choose-password")

    page.goto("/boards/deal")  # nothing else opens until the password is chosen
    expect(page).to_have_url(re.compile(r"/account/choose-password$"))
    page.goto("/account")
    expect(page).to_have_url(re.compile(r"/account/choose-password$"))

    page.get_by_label("New password", exact=True).fill("ninas-password")
    page.get_by_label("New password again").fill("ninas-passwort")
    page.get_by_role("button", name="Save and go on").click()
    error = page.locator("#repeat_password-error")
    expect(error).to_contain_text("The two new passwords are not the same")
    expect(page.get_by_label("New password again")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "choose-password-error")

    page.get_by_label("New password", exact=True).fill("ninas-password")
    page.get_by_label("New password again").fill("ninas-password")
    page.get_by_role("button", name="Save and go on").click()
    page.wait_for_url(re.compile(r"/boards/"))
    expect(page.get_by_role("navigation", name="Main")).to_contain_text("Nina Nuovo")

    page.get_by_role("button", name="Sign out").click()
    _submit_sign_in(page, email, one_time)  # the one-time password no longer works
    expect(page.get_by_role("alert")).to_contain_text("The email or password is not right")
    sign_in(page, email, "ninas-password")
    expect(page.get_by_role("navigation", name="Main")).to_contain_text("Nina Nuovo")


def test_change_your_password_ends_your_other_sessions(
    page: Page, server: Server, browser: Browser, console: ConsoleWatch
) -> None:
    console.allow(r"status of 422")  # the wrong current password, said at its field
    email = "otto.otto@demo.stageflow.local"
    server.cli(
        "user", "create", "-w", "demo", "--email", email, "--name", "Otto Otto",
        "--password", "ottos-first-password",
    )  # fmt: skip
    sign_in(page, email, "ottos-first-password")
    other = browser.new_context(base_url=server.url)
    try:
        elsewhere = other.new_page()
        sign_in(elsewhere, email, "ottos-first-password")

        page.get_by_role("link", name="Otto Otto").click()
        expect(page).to_have_url(re.compile(r"/account$"))
        expect(page.get_by_role("heading", name="Your account")).to_be_visible()
        expect(page.locator("main")).to_contain_text(email)
        page.get_by_label("Current password").fill("not-my-password")
        page.get_by_label("New password", exact=True).fill("ottos-second-password")
        page.get_by_label("New password again").fill("ottos-second-password")
        page.get_by_role("button", name="Change password").click()
        expect(page.locator("#current_password-error")).to_contain_text(
            "The current password is not right"
        )
        check_accessibility(page)
        screenshot(page, "account-wrong-password")

        page.get_by_label("Current password").fill("ottos-first-password")
        page.get_by_label("New password", exact=True).fill("short")
        page.get_by_label("New password again").fill("short")
        page.evaluate("document.querySelector('#new_password').removeAttribute('minlength')")
        page.evaluate("document.querySelector('#repeat_password').removeAttribute('minlength')")
        page.get_by_role("button", name="Change password").click()
        expect(page.locator("#new_password-error")).to_contain_text("at least 8 characters")

        page.get_by_label("Current password").fill("ottos-first-password")
        page.get_by_label("New password", exact=True).fill("ottos-second-password")
        page.get_by_label("New password again").fill("ottos-second-password")
        page.get_by_role("button", name="Change password").click()
        expect(page.get_by_role("status").first).to_contain_text("Your password is changed")
        check_accessibility(page)
        screenshot(page, "account")

        page.goto("/boards/deal")  # this session goes on
        expect(page.get_by_role("navigation", name="Main")).to_contain_text("Otto Otto")
        elsewhere.goto("/boards/deal")  # the other one has ended
        expect(elsewhere).to_have_url(re.compile(r"/sign-in"))
    finally:
        other.close()
