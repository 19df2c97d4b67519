from django.core.management.base import BaseCommand

from lti.keys import key_rotate


class Command(BaseCommand):
    help = (
        "Rotate the LTI tool key: a new key signs from now on; the old one stays in the JWKS as 'previous' "
        "until the next rotation, so platforms that cached the keyset keep working."
    )

    def handle(self, *args, **options) -> None:
        key = key_rotate()
        self.stdout.write(f"New current key {key.kid}; the previous key stays published until the next rotation.")
