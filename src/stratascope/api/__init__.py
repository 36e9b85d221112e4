"""HTTP entry points: one module per public protocol; `app.create_app()` builds the application.

Kept empty so that importing one protocol module (or its helpers) does not build the app.
"""
