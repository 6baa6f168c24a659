"""The local stack (dev only, never packaged into a function): `python -m local run`."""
