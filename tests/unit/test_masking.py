from queue_services.masking import mask_email_address, mask_phone_number, mask_recipient, redact_text


def test_phone_numbers_keep_only_country_prefix_and_last_digits() -> None:
    assert mask_phone_number("+15551234567") == "+1*******567"
    assert "5551234" not in mask_recipient("+15551234567")


def test_email_addresses_keep_first_letter_and_domain() -> None:
    assert mask_email_address("jane.doe@example.com") == "j***@example.com"
    assert mask_recipient("jane.doe@example.com") == "j***@example.com"


def test_redact_text_blanks_numbers_and_addresses() -> None:
    assert redact_text("to +1 555 123 4567 or bob@example.org failed") == "to <phone> or <email> failed"
