"""Plain-Python domain: statuses, money, pricing, validation rules. No I/O libraries here."""
