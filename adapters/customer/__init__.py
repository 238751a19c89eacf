"""Customer self-service: the tokens a channel vouches for its customer with (``tokens.py``), the
customer's page (``page.py``, HTML under ``/customer``) and the CLI that mints tokens (``cli.py``).
The JSON API is ``adapters/http/customer.py``; who the caller is, ``adapters/http/customer_auth.py``."""
