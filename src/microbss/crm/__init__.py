"""The microbss CRM: a Django project for customer-service reps and their admins."""
