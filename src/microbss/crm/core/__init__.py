"""The CRM's shell: base layout, home page, error pages, middleware and display filters."""
