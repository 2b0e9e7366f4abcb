"""WSGI entry point of the CRM, served by gunicorn (`microbss crm serve`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "microbss.crm.settings")

application = get_wsgi_application()
